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
