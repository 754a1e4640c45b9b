## Chung
app-name = BHYT Học sinh
skip-to-content = Bỏ qua đến nội dung
switch-language = English
all = Tất cả
filter = Lọc
save = Lưu
create = Tạo
edit = Sửa
back-home = Về trang chủ
request-id = Mã yêu cầu
retry-after = Vui lòng thử lại sau { $seconds } giây.
count-results = { $count } kết quả
pager-label = Phân trang
pager-prev = Trang trước
pager-next = Trang sau
pager-position = Trang { $page } / { $pages }

## Điều hướng
nav-label = Điều hướng chính
nav-menu = Danh mục
nav-home = Tổng quan
nav-provinces = Tỉnh, thành phố
nav-schools = Trường học
nav-users = Người dùng
nav-audit = Nhật ký
nav-api = API
nav-account = Tài khoản
nav-logout = Đăng xuất

## Vai trò và phạm vi
role-admin = Quản trị viên
role-staff = Cán bộ truyền thông
role-liaison = Cán bộ phụ trách trường
scope-national = Toàn quốc
scope-province = Một tỉnh, thành phố
scope-schools = Các trường được phân công

## Cấp học
level-preschool = Mầm non
level-primary = Tiểu học
level-lower_secondary = Trung học cơ sở
level-upper_secondary = Trung học phổ thông
level-continuing_education = Giáo dục thường xuyên
level-vocational = Giáo dục nghề nghiệp
level-college = Cao đẳng
level-university = Đại học
kind-city = Thành phố

## Nhãn
label-email = Email
label-password = Mật khẩu
label-current-password = Mật khẩu hiện tại
label-new-password = Mật khẩu mới
label-confirm-password = Nhập lại mật khẩu mới
label-initial-password = Mật khẩu ban đầu
label-display-name = Họ và tên
label-role = Vai trò
label-scope = Phạm vi
label-schools = Trường
label-province = Tỉnh, thành phố
label-province-scope = Phạm vi tỉnh (cán bộ truyền thông)
label-school-codes = Mã trường phụ trách (cán bộ phụ trách trường)
label-language = Ngôn ngữ
label-active = Đang hoạt động
label-status = Trạng thái
label-search = Tìm kiếm
label-code = Mã
label-name = Tên
label-level = Cấp học
label-commune = Xã, phường
label-commune-code = Mã xã, phường
label-enrolled = Số học sinh, sinh viên
label-address = Địa chỉ
label-created = Tạo lúc
label-updated = Cập nhật
label-last-used = Dùng lần cuối
label-prefix = Tiền tố
label-token-name = Tên token
label-time = Thời gian
label-actor = Người thực hiện
label-action = Hành động
label-entity = Đối tượng
label-entity-id = Mã đối tượng
label-changes = Thay đổi
label-from = Từ ngày
label-to = Đến ngày
label-row = Dòng
label-column = Cột
label-problem = Vấn đề
label-csv-file = Tệp CSV

## Gợi ý
hint-password = Từ 10 đến 128 ký tự. Nên dùng một cụm từ dễ nhớ.
hint-password-reset = Người dùng sẽ bị đăng xuất khỏi mọi phiên.
hint-role = Quản trị viên quản lý người dùng và hệ thống; cán bộ truyền thông lập kế hoạch; cán bộ phụ trách trường chỉ thấy các trường được phân công.
hint-province-scope = Chỉ dành cho cán bộ truyền thông; để trống nếu phụ trách toàn quốc.
hint-school-codes = Chỉ dành cho cán bộ phụ trách trường; cách nhau bởi dấu phẩy hoặc xuống dòng.
hint-school-code = Chữ, số, dấu gạch; tối đa 32 ký tự.
hint-commune-code = Mã của một xã, phường đã có trong tỉnh; có thể để trống.
hint-school-search = Tên hoặc mã, có dấu hay không dấu đều được

## Đăng nhập, tài khoản
login-title = Đăng nhập
login-submit = Đăng nhập
login-failed = Email hoặc mật khẩu không đúng.
login-throttled = Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau { $seconds } giây.
account-title = Tài khoản của tôi
password-title = Đổi mật khẩu
password-reset-title = Đặt lại mật khẩu
password-reset-submit = Đặt lại mật khẩu
tokens-title = Token API
tokens-new = Tạo token mới
tokens-create = Tạo token
tokens-none = Chưa có token nào.
tokens-shown-once = Token mới chỉ hiển thị một lần này. Hãy sao chép và lưu ở nơi an toàn.
token-active = Đang dùng
token-revoked = Đã thu hồi
token-revoke = Thu hồi

## Người dùng
sessions-title = Phiên đăng nhập đang mở
sessions-end = Kết thúc mọi phiên
sessions-none = Không có phiên nào đang mở.
label-last-seen = Hoạt động gần nhất
label-expires = Hết hạn
notice-sessions-ended = Đã kết thúc mọi phiên đăng nhập của người dùng này.
users-title = Người dùng
users-new = Thêm người dùng
user-active = Đang hoạt động
user-inactive = Đã vô hiệu hóa
schools-count = { $count } trường
audit-title = Nhật ký thay đổi
audit-for-user = Nhật ký của người dùng này

## Trang chủ
home-title = Tổng quan
home-welcome = Xin chào, { $name }
home-by-level = Trường theo cấp học
home-next-steps = Việc thường làm
stat-provinces = Tỉnh, thành phố
stat-communes = Xã, phường
stat-schools = Trường
stat-students = Học sinh, sinh viên
no-schools = Không có trường nào.

## Tổ chức
provinces-title = Tỉnh, thành phố
communes-title = Xã, phường
communes-none = Chưa có xã, phường nào.
schools-title = Trường học
schools-new = Thêm trường

## Nhập CSV
import-title = Nhập danh sách trường (CSV)
import-upload = Tải tệp lên
import-help = Dòng đầu là tiêu đề cột. Bắt buộc: code, name, level, province_code. Tên cột tiếng Việt (ma_truong, ten_truong, cap_hoc, ma_tinh, ma_xa, ten_xa, so_hoc_sinh, dia_chi) cũng được. Trường được nhận theo mã; cột không có hoặc ô để trống giữ nguyên giá trị đang lưu. Tệp được kiểm tra trước; chưa ghi gì cho đến khi bạn xác nhận.
import-check = Kiểm tra tệp
import-report = Kết quả kiểm tra
import-rows = { $count } dòng
import-valid = { $count } dòng hợp lệ
import-invalid = { $count } dòng lỗi
import-create = { $count } trường mới
import-update = { $count } trường cập nhật
import-unchanged = { $count } không đổi
import-new-communes = Xã, phường mới
import-fix-errors = Tệp có lỗi; chưa có gì được ghi. Hãy sửa các dòng dưới đây rồi tải lên lại.
import-confirm-text = Tệp hợp lệ. Xác nhận để ghi tất cả các dòng.
import-confirm = Xác nhận nhập
import-unreadable = Không đọc được tệp CSV: { $detail }
import-missing-column = Thiếu cột bắt buộc
import-too-many-fields = Dòng có nhiều ô hơn tiêu đề ({ $expected } cột)
import-not-utf8 = Không phải văn bản UTF-8 (hãy lưu tệp dạng "CSV UTF-8")
import-commune-conflict = Mã xã này đã dùng cho tỉnh khác ở dòng { $row }
import-unknown-commune = Chưa có xã, phường mã { $code }; hãy điền cột commune_name để tạo mới
import-duplicate = Mã trường trùng với dòng { $row }
import-code-not-yours = Mã này thuộc một trường ngoài phạm vi của bạn

## Thông báo
notice-password-changed = Đã đổi mật khẩu. Các phiên đăng nhập khác đã kết thúc.
notice-user-created = Đã tạo người dùng.
notice-user-saved = Đã lưu người dùng.
notice-password-reset = Đã đặt lại mật khẩu.
notice-school-created = Đã thêm trường.
notice-school-saved = Đã lưu trường.
notice-import-committed = Đã nhập danh sách trường.

## Lỗi
error-not-found = Không tìm thấy
error-forbidden = Bạn không có quyền thực hiện thao tác này
error-unauthenticated = Cần đăng nhập
error-csrf = Phiên biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại.
error-invalid = Dữ liệu chưa hợp lệ
error-bad-request = Yêu cầu không hợp lệ
error-conflict = Xung đột dữ liệu
error-too-large = Dữ liệu gửi lên quá lớn
error-too-many = Quá nhiều yêu cầu
error-internal = Đã có lỗi xảy ra. Vui lòng thử lại sau.
error-bad-input = Dữ liệu gửi lên không đọc được: { $detail }
error-body-unreadable = Không đọc được nội dung yêu cầu
error-upload-unreadable = Không đọc được tệp tải lên
error-empty-file = Tệp trống
error-required = Bắt buộc
error-too-long = Quá dài (tối đa { $max } ký tự)
error-not-a-number = Không phải số nguyên
error-out-of-range = Phải từ { $min } đến { $max }
error-one-of = Giá trị không hợp lệ; chọn một trong: { $allowed }
error-email = Địa chỉ email không hợp lệ
error-email-taken = Email này đã được dùng
error-password-short = Mật khẩu cần ít nhất { $min } ký tự
error-password-mismatch = Hai mật khẩu không khớp
error-password-same = Mật khẩu mới phải khác mật khẩu hiện tại
error-wrong-password = Mật khẩu hiện tại không đúng
error-own-role = Bạn không thể đổi vai trò của chính mình
error-own-deactivate = Bạn không thể vô hiệu hóa tài khoản của chính mình
error-user-inactive = Người dùng đã bị vô hiệu hóa
error-unknown-province = Không có tỉnh, thành phố mã { $code }
error-province-only-staff = Chỉ cán bộ truyền thông mới gắn với một tỉnh
error-unknown-schools = Không có trường mã: { $codes }
error-schools-only-liaison = Chỉ cán bộ phụ trách trường mới được phân công trường
error-unknown-commune = Không có xã, phường mã { $code }
error-commune-other-province = Xã, phường này thuộc tỉnh khác
error-outside-scope = Ngoài phạm vi của bạn
error-code-chars = Chỉ dùng chữ, số và các dấu - _ .
error-code-taken = Mã này đã được dùng
error-date = Ngày không hợp lệ (dd/mm/yyyy)
error-import-done = Lần nhập này đã được xử lý
error-bad-value = Giá trị không hợp lệ: { $detail }
error-not-json = Nội dung phải là JSON (Content-Type: application/json)
