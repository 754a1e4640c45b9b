## General
app-name = Student HI Outreach
skip-to-content = Skip to content
switch-language = Tiếng Việt
all = All
filter = Filter
save = Save
create = Create
edit = Edit
back-home = Back to the home page
request-id = Request id
retry-after = Please try again in { $seconds } seconds.
count-results = { $count ->
    [one] 1 result
   *[other] { $count } results
}
pager-label = Pages
pager-prev = Previous
pager-next = Next
pager-position = Page { $page } of { $pages }

## Navigation
nav-label = Main navigation
nav-menu = Menu
nav-home = Overview
nav-provinces = Provinces
nav-schools = Schools
nav-users = Users
nav-audit = Audit log
nav-api = API
nav-account = Account
nav-logout = Log out

## Roles and scope
role-admin = Administrator
role-staff = Communication staff
role-liaison = School liaison
scope-national = Whole country
scope-province = One province
scope-schools = Assigned schools

## School levels
level-preschool = Preschool
level-primary = Primary
level-lower_secondary = Lower secondary
level-upper_secondary = Upper secondary
level-continuing_education = Continuing education
level-vocational = Vocational
level-college = College
level-university = University
kind-city = City

## Labels
label-email = E-mail
label-password = Password
label-current-password = Current password
label-new-password = New password
label-confirm-password = New password again
label-initial-password = Initial password
label-display-name = Full name
label-role = Role
label-scope = Scope
label-schools = Schools
label-province = Province
label-province-scope = Province scope (communication staff)
label-school-codes = Assigned school codes (school liaisons)
label-language = Language
label-active = Active
label-status = Status
label-search = Search
label-code = Code
label-name = Name
label-level = Level
label-commune = Commune
label-commune-code = Commune code
label-enrolled = Enrolled students
label-address = Address
label-created = Created
label-updated = Updated
label-last-used = Last used
label-prefix = Prefix
label-token-name = Token name
label-time = Time
label-actor = Actor
label-action = Action
label-entity = Entity
label-entity-id = Entity id
label-changes = Changes
label-from = From
label-to = To
label-row = Row
label-column = Column
label-problem = Problem
label-csv-file = CSV file

## Hints
hint-password = 10 to 128 characters. A memorable phrase works well.
hint-password-reset = The user is logged out of every session.
hint-role = Administrators manage users and the system; communication staff plan outreach; school liaisons see only their assigned schools.
hint-province-scope = Communication staff only; leave empty for the whole country.
hint-school-codes = School liaisons only; separate codes with commas or new lines.
hint-school-code = Letters, digits, dashes; at most 32 characters.
hint-commune-code = The code of a commune already in the province; may be empty.
hint-school-search = Name or code, with or without accents

## Login and account
login-title = Log in
login-submit = Log in
login-failed = Wrong e-mail or password.
login-throttled = Too many failed logins. Please try again in { $seconds } seconds.
account-title = My account
password-title = Change password
password-reset-title = Reset password
password-reset-submit = Reset password
tokens-title = API tokens
tokens-new = New token
tokens-create = Create token
tokens-none = No tokens yet.
tokens-shown-once = The new token is shown this once. Copy it and keep it somewhere safe.
token-active = Active
token-revoked = Revoked
token-revoke = Revoke

## Users
sessions-title = Open sessions
sessions-end = End all sessions
sessions-none = No open sessions.
label-last-seen = Last active
label-expires = Expires
notice-sessions-ended = All of this user's sessions have ended.
users-title = Users
users-new = Add user
user-active = Active
user-inactive = Deactivated
schools-count = { $count ->
    [one] 1 school
   *[other] { $count } schools
}
audit-title = Audit log
audit-for-user = This user's audit entries

## Home
home-title = Overview
home-welcome = Hello, { $name }
home-by-level = Schools by level
home-next-steps = Common tasks
stat-provinces = Provinces
stat-communes = Communes
stat-schools = Schools
stat-students = Students
no-schools = No schools.

## Organisation
provinces-title = Provinces
communes-title = Communes
communes-none = No communes yet.
schools-title = Schools
schools-new = Add school

## CSV import
import-title = Import schools (CSV)
import-upload = Upload a file
import-help = The first row names the columns. Required: code, name, level, province_code. Vietnamese column names (ma_truong, ten_truong, cap_hoc, ma_tinh, ma_xa, ten_xa, so_hoc_sinh, dia_chi) work too. Schools are matched by code; columns left out, or cells left empty, keep the stored values. The file is checked first; nothing is written until you confirm.
import-check = Check file
import-report = Check result
import-rows = { $count } rows
import-valid = { $count } valid
import-invalid = { $count } with errors
import-create = { $count } new schools
import-update = { $count } schools updated
import-unchanged = { $count } unchanged
import-new-communes = New communes
import-fix-errors = The file has errors; nothing was written. Fix the rows below and upload again.
import-confirm-text = The file is valid. Confirm to write every row.
import-confirm = Confirm import
import-unreadable = Cannot read the CSV file: { $detail }
import-missing-column = Required column missing
import-too-many-fields = The row has more cells than the header ({ $expected } columns)
import-not-utf8 = Not UTF-8 text (save the file as "CSV UTF-8")
import-commune-conflict = This commune code is used for another province on row { $row }
import-unknown-commune = No commune with code { $code }; fill in commune_name to create it
import-duplicate = School code repeats row { $row }
import-code-not-yours = This code belongs to a school outside your scope

## Notices
notice-password-changed = Password changed. Your other sessions have ended.
notice-user-created = User created.
notice-user-saved = User saved.
notice-password-reset = Password reset.
notice-school-created = School added.
notice-school-saved = School saved.
notice-import-committed = Schools imported.

## Errors
error-not-found = Not found
error-forbidden = You may not do this
error-unauthenticated = Login required
error-csrf = The form has expired or is not valid. Reload the page and try again.
error-invalid = Some input is not valid
error-bad-request = Bad request
error-conflict = Conflict
error-too-large = The request is too large
error-too-many = Too many requests
error-internal = Something went wrong. Please try again later.
error-bad-input = The request could not be read: { $detail }
error-body-unreadable = The request body could not be read
error-upload-unreadable = The uploaded file could not be read
error-empty-file = The file is empty
error-required = Required
error-too-long = Too long (at most { $max } characters)
error-not-a-number = Not a whole number
error-out-of-range = Must be between { $min } and { $max }
error-one-of = Not a valid value; use one of: { $allowed }
error-email = Not a valid e-mail address
error-email-taken = This e-mail is already in use
error-password-short = The password needs at least { $min } characters
error-password-mismatch = The two passwords differ
error-password-same = The new password must differ from the current one
error-wrong-password = The current password is wrong
error-own-role = You cannot change your own role
error-own-deactivate = You cannot deactivate your own account
error-user-inactive = The user is deactivated
error-unknown-province = No province with code { $code }
error-province-only-staff = Only communication staff are tied to a province
error-unknown-schools = No school with code: { $codes }
error-schools-only-liaison = Only school liaisons are assigned schools
error-unknown-commune = No commune with code { $code }
error-commune-other-province = This commune is in another province
error-outside-scope = Outside your scope
error-code-chars = Use only letters, digits and - _ .
error-code-taken = This code is already in use
error-date = Not a valid date (dd/mm/yyyy)
error-import-done = This import was already handled
error-bad-value = Not a valid value: { $detail }
error-not-json = The body must be JSON (Content-Type: application/json)

## Students and guardians
nav-students = Students
students-title = Students
students-none = No students.
students-import-title = Import students (CSV)
students-import-help = One row per student and guardian (a student with two guardians takes two rows; siblings share their guardian's phone number). Required: school_code, full_name, date_of_birth. Students are matched by school + social-insurance number, or school + name + date of birth; guardians by phone or e-mail. Columns left out or cells left empty keep the stored values. The file is checked first and written when you confirm.
hint-student-search = Name, with or without accents
label-school = School
label-school-code = School code
label-class = Class
label-grade = Grade
label-date-of-birth = Date of birth
label-si-number = Social-insurance number
label-hi-status = HI status
label-valid-until = Card valid until
label-students = Children
label-channel = Channel
label-channel-order = Channel order
label-decision = Decision
label-source = Source
label-evidence = Evidence
label-import-kind = Kind of data
hint-evidence = E.g. the number of the signed consent form
hi-insured = Insured
hi-uninsured = Not insured
hi-state_funded = State-funded
hi-status-update = Update HI status
guardians-title = Guardians
guardians-none = No guardians yet.
guardian-erased = Data erased
guardian-opted-out = Opted out
guardian-data = Personal data
guardian-export = Export data (JSON)
guardian-erase = Erase personal data
guardian-erase-confirm = I confirm erasing this guardian's name, phone and e-mail (cannot be undone)
rel-mother = mother
rel-father = father
rel-grandparent = grandparent
rel-guardian = guardian
rel-other = other
channel-email = E-mail
channel-sms = SMS
channel-zalo = Zalo
channel-push = App (VssID)
consent-granted = Granted
consent-withdrawn = Refused / withdrawn
consent-none = No consent recorded
consent-record = Record consent
consent-history = Consent history
source-school_form = Form at school
source-import = File import
source-online = Online
source-unsubscribe = Unsubscribe link
source-staff = Recorded by staff
import-kind-students = Students and guardians
import-kind-hi-status = HI status updates
import-students-created = { $count } new students
import-students-updated = { $count } students updated
import-guardians-created = { $count } new guardians
import-consents = { $count } consent records
import-errors-found = { $count } problems found; nothing was written.
import-valid-only-text = Fix the file and upload it again, or write only the valid rows.
import-valid-only = Write the valid rows only
import-empty = The file is empty
import-identify-student = A social-insurance number, or name and date of birth, is needed to find the student
import-no-such-student = No such student at that school
import-student-conflict = This student is on row { $row } with different details
import-guardian-conflict = This phone or e-mail is on row { $row } with a different guardian name
import-guardian-contact = A guardian needs a mobile number or an e-mail
error-phone = Not a valid Vietnamese mobile number
error-si-number = A social-insurance number has 10 digits
error-si-number-excel = Excel turned the number into scientific notation (E+); format the column as Text and export again
error-yes-no = Write yes or no
error-channel-repeated = Channel { $channel } is repeated
error-date-range = Not a plausible date
error-unknown-school = No school with code { $code }
error-guardian-erased = This guardian's data has been erased
error-confirm-erase = Tick the confirmation box
notice-status-saved = HI status updated.
notice-consent-saved = Recorded.
notice-guardian-erased = The guardian's personal data was erased.
notice-students-imported = Students imported.

## Message templates
nav-templates = Templates
templates-title = Parent message templates
templates-none = No templates yet.
templates-new = New template
templates-variables = Variables you can use
templates-variables-help = Write a variable in double braces, e.g. {"{{"}guardian_name{"}}"}. The list of children: {"{{"}#each students{"}}"}{"{{"}name{"}}"}{"{{"}/each{"}}"}; inside it, write shared variables as ../school.
template-preview = Preview
template-preview-button = Preview
template-edit = Edit (saved as a new version)
template-content = Content
template-save-version = Save a new version
template-versions = Versions
template-old-version = an old version; the current one is
label-purpose = Purpose
label-version = Version
label-subject = Subject
label-html = HTML body
label-text = Plain-text body
label-sms-text = SMS text
label-zns-template = ZNS template id
label-zns-params = ZNS parameters
label-push-title = Notification title
label-push-body = Notification text
label-push-link = Link
label-preview-guardian = Guardian id (to preview with real data)
hint-preview-guardian = empty: sample data
hint-zns-template = A template approved by Zalo
hint-zns-params = One per line: name = {"{{"}variable{"}}"}
purpose-deadline_reminder = HI deadline reminder
purpose-session_invite = Q&A session invitation
purpose-thank_you = Thanks once insured
purpose-custom = Other
sms-length = { $encoding }: { $units } characters, { $segments } messages
sms-unaccented = Without accents ({ $encoding }): { $segments } messages
msg-hi-insured = has an HI card
msg-hi-uninsured = has no HI card yet
msg-hi-state_funded = is insured by the state budget
msg-and = and
notice-template-saved = Template saved.
error-template-syntax = Template syntax error or unclosed block (line { $line })
error-template-unknown = Unknown variable: { $name } (line { $line })
error-template-outer = { $name } is outside the loop: write ../{ $name } (line { $line })
error-template-helper = Helper { $name } is not available (line { $line })
error-template-construct = This construct is not allowed in templates (line { $line })
error-template-block-arg = Block { $name } takes exactly one value (line { $line })
error-template-not-list = Only lists such as students can be looped over (line { $line })
error-template-not-object = with works on a group of variables such as session (line { $line })
error-template-channel = A template's channel cannot change; create a new template
error-zalo-param-name = Not a valid parameter name: { $name }
error-zalo-param-line = Line { $line } must read name = value
error-template-not-value = This is a list or group, not a value to print; use #each or one of its fields (line { $line })

## Unsubscribe
unsubscribe-title = Stop student health insurance reminders
unsubscribe-question = Do you want to stop receiving student health insurance reminders by { $channel }?
unsubscribe-this-channel = Stop { $channel } only
unsubscribe-all = Stop every channel
unsubscribe-confirm = Confirm
unsubscribe-done = Done: you will no longer receive HI reminders by { $channel }.
unsubscribe-done-all = Done: you will no longer receive HI reminders on any channel.
unsubscribe-after = If you change your mind, tell the school and they will restart them. Thank you.
unsubscribe-already = You had already unsubscribed.
error-one-click = Not a valid one-click unsubscribe request
