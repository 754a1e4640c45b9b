use hi_outreach::auth::actor::Actor;
use hi_outreach::contacts::fields::Channel;
use hi_outreach::contacts::service;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{redo_migrations_from, spawn_app, TestApp};

const HEADER: &str = "school_code,si_number,full_name,date_of_birth,class_name,hi_status,guardian_name,guardian_relationship,guardian_phone,guardian_email,guardian_zalo,consent_sms,consent_zalo,consent_email\n";

/// Two siblings sharing their mother; a third student with a father who only has e-mail.
fn good_file() -> String {
    format!(
        "{HEADER}\
HN-1,0112345678,Nguyễn Văn An,05/09/2010,10A1,uninsured,Trần Thị Bình,mẹ,0912345678,,có,có,có,\n\
HN-1,0112345679,Nguyễn Thị Chi,12/01/2013,7B,chưa có thẻ,Trần Thị Bình,mẹ,+84 912 345 678,,có,có,có,\n\
HN-1,,Lê Minh Đức,2011-03-30,9C,insured,Lê Văn Em,bố,,em.le@example.vn,,,,có\n"
    )
}

async fn setup() -> (TestApp, String) {
    let app = spawn_app().await;
    app.create_school("HN-1", "Trường THCS Nguyễn Du", "01")
        .await;
    app.create_school("HCM-1", "Trường THCS Lê Lợi", "79").await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    (app, t)
}

async fn import(
    app: &TestApp,
    token: &str,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = app
        .api(
            token,
            Method::POST,
            &format!("/api/v1/students/import?{query}"),
        )
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn errors(report: &Value) -> Vec<(u64, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn import_commits_students_guardians_and_consent_and_reimport_changes_nothing() {
    let (app, t) = setup().await;
    let (status, dry) = import(&app, &t, "dry_run=true", good_file()).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["students_created"], 3);
    assert_eq!(dry["guardians_created"], 2, "siblings share their mother");
    assert_eq!(dry["links_created"], 3);
    assert_eq!(
        dry["consents_recorded"], 3,
        "SMS + Zalo for the mother once, e-mail for the father"
    );
    assert_eq!(app.count("students").await, 0, "a dry run writes nothing");

    let (status, done) = import(&app, &t, "dry_run=false", good_file()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "committed");
    assert_eq!(done["students_created"], 3);
    assert_eq!(app.count("students").await, 3);
    assert_eq!(app.count("guardians").await, 2);
    assert_eq!(app.count("student_guardians").await, 3);
    assert_eq!(app.count("consents").await, 3);
    assert_eq!(
        app.count("import_chunks").await,
        0,
        "the upload's copy is gone once written"
    );

    let (_, again) = import(&app, &t, "dry_run=false", good_file()).await;
    assert_eq!(again["students_created"], 0);
    assert_eq!(again["students_updated"], 0);
    assert_eq!(again["students_unchanged"], 3);
    assert_eq!(again["guardians_created"], 0);
    assert_eq!(again["links_created"], 0);
    assert_eq!(again["consents_recorded"], 0);
    assert_eq!(app.count("consents").await, 3);

    let list = app
        .api_json(&t, Method::GET, "/api/v1/students?q=nguyen+van+an")
        .await;
    assert_eq!(list["total"], 1);
    let an = &list["items"][0];
    assert_eq!(an["full_name"], "Nguyễn Văn An", "diacritics intact");
    assert_eq!(an["date_of_birth"], "2010-09-05");
    assert_eq!(an["hi_status"], "uninsured");
    let detail = app
        .api_json(&t, Method::GET, &format!("/api/v1/students/{}", an["id"]))
        .await;
    let mother = &detail["guardian_details"][0];
    assert_eq!(mother["full_name"], "Trần Thị Bình");
    assert_eq!(mother["phone"], "+84912345678", "normalised to E.164");
    assert_eq!(mother["relationship"], "mother");
    assert_eq!(mother["consents"].as_array().unwrap().len(), 2);
}

/// Each student's guardian count as the student list shows it, by name.
async fn guardian_counts(app: &TestApp, t: &str) -> Vec<(String, i64)> {
    let list = app.api_json(t, Method::GET, "/api/v1/students").await;
    let mut counts: Vec<(String, i64)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["full_name"].as_str().unwrap().to_string(),
                s["guardians"].as_i64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    counts
}

#[tokio::test]
async fn a_student_counts_the_guardians_linked_to_it() {
    let (app, t) = setup().await;
    let (status, done) = import(&app, &t, "dry_run=false", good_file()).await;
    assert_eq!(status, 200, "{done}");
    let one_each = vec![
        ("Lê Minh Đức".to_string(), 1),
        ("Nguyễn Thị Chi".to_string(), 1),
        ("Nguyễn Văn An".to_string(), 1),
    ];
    assert_eq!(guardian_counts(&app, &t).await, one_each);
    // An's father, from a second file: a link more for An only.
    let father = format!(
        "{HEADER}HN-1,0112345678,Nguyễn Văn An,05/09/2010,10A1,uninsured,Nguyễn Văn Giang,bố,0987654321,,,có,,\n"
    );
    let (status, done) = import(&app, &t, "dry_run=false", father).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["links_created"], 1, "{done}");
    let an_has_two = vec![
        ("Lê Minh Đức".to_string(), 1),
        ("Nguyễn Thị Chi".to_string(), 1),
        ("Nguyễn Văn An".to_string(), 2),
    ];
    assert_eq!(guardian_counts(&app, &t).await, an_has_two);
    let an = app
        .api_json(&t, Method::GET, "/api/v1/students?q=an&class=10A1")
        .await;
    let detail = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/students/{}", an["items"][0]["id"]),
        )
        .await;
    assert_eq!(detail["guardians"], 2, "{detail}");
    assert_eq!(detail["guardian_details"].as_array().unwrap().len(), 2);
    // The same file again links nothing and counts nothing twice.
    let (_, again) = import(
        &app,
        &t,
        "dry_run=false",
        format!("{HEADER}HN-1,0112345678,Nguyễn Văn An,05/09/2010,10A1,uninsured,Nguyễn Văn Giang,bố,0987654321,,,có,,\n"),
    )
    .await;
    assert_eq!(again["links_created"], 0, "{again}");
    assert_eq!(guardian_counts(&app, &t).await, an_has_two);
    // Two files at once, each linking another guardian to Chi: both are counted.
    let chi = |guardian: &str, relationship: &str, phone: &str| {
        format!(
            "{HEADER}HN-1,0112345679,Nguyễn Thị Chi,12/01/2013,7B,uninsured,{guardian},{relationship},{phone},,,có,,\n"
        )
    };
    let (a, b) = tokio::join!(
        import(
            &app,
            &t,
            "dry_run=false",
            chi("Phạm Thị Hoa", "bà nội", "0911111111")
        ),
        import(
            &app,
            &t,
            "dry_run=false",
            chi("Vũ Văn Khoa", "ông ngoại", "0922222222")
        ),
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    let an_two_chi_three = vec![
        ("Lê Minh Đức".to_string(), 1),
        ("Nguyễn Thị Chi".to_string(), 3),
        ("Nguyễn Văn An".to_string(), 2),
    ];
    assert_eq!(guardian_counts(&app, &t).await, an_two_chi_three);
    // The counts of students older than the column are filled by its migration: undo it (and
    // every later one), do them again.
    redo_migrations_from(&app, "m20261207_000013_student_guardian_count").await;
    assert_eq!(guardian_counts(&app, &t).await, an_two_chi_three);
}

#[tokio::test]
async fn every_bad_row_is_reported_and_nothing_is_written() {
    let (app, t) = setup().await;
    let file = format!(
        "{HEADER}\
HN-1,0112345678,Nguyễn Văn An,05/09/2010,10A1,uninsured,Trần Thị Bình,mẹ,0912345678,,có,có,,\n\
XX-9,0112345670,Phạm Hoa,01/01/2012,6A,uninsured,,,,,,,,\n\
HN-1,7.91E+09,Đỗ Nam,01/01/2012,6A,,,,,,,,,\n\
HN-1,,,01/01/2012,6A,,,,,,,,,\n\
HN-1,,Vũ Lan,31/02/2012,6A,,,,,,,,,\n\
HN-1,,Hồ Quang,01/01/2012,6A,,Hồ Văn Tư,bố,0243 825 1234,,,,,\n\
HN-1,,Mai Thu,01/01/2012,6A,,Mai Văn Năm,,,,,có,,\n\
HN-1,0112345678,Nguyễn Văn An,05/09/2010,11B,uninsured,,,,,,,,\n\
HN-1,,Tạ Sáu,01/01/2012,6A,maybe,,,,,,,,\n\
HN-1,,Lý Bảy,01/01/2012,6A,,Lý Tám,,0987654321,,,perhaps,,\n"
    );
    let (status, report) = import(&app, &t, "dry_run=true", file.clone()).await;
    assert_eq!(status, 422);
    assert_eq!(
        errors(&report),
        vec![
            (3, "school_code".into()),
            (4, "si_number".into()),
            (5, "full_name".into()),
            (6, "date_of_birth".into()),
            (7, "guardian_phone".into()),
            (8, "guardian_phone".into()),
            (9, "full_name".into()),
            (10, "hi_status".into()),
            (11, "consent_sms".into()),
        ],
        "{report}"
    );
    assert_eq!(report["invalid_rows"], 9);
    assert_eq!(report["valid_rows"], 1);
    let excel = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["row"] == 4)
        .unwrap();
    assert_eq!(excel["code"], "error-si-number-excel");

    // All-or-nothing: the good first row is not written either.
    let (status, _) = import(&app, &t, "dry_run=false", file.clone()).await;
    assert_eq!(status, 422);
    assert_eq!(app.count("students").await, 0);
    assert_eq!(app.count("guardians").await, 0);
    assert_eq!(app.count("imports").await, 0);
    // Valid rows only, when asked.
    let (status, done) = import(&app, &t, "dry_run=false&mode=valid_only", file).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["students_created"], 1);
    assert_eq!(app.count("students").await, 1);
}

#[tokio::test]
async fn excel_exports_with_bom_semicolons_crlf_and_vietnamese_headers() {
    let (app, t) = setup().await;
    let file = "\u{feff}Mã trường;Mã số BHXH;Họ và tên;Ngày sinh;Lớp;Tình trạng BHYT;Họ tên phụ huynh;Quan hệ;SĐT phụ huynh;Zalo;Đồng ý Zalo\r\n\
HN-1;112345678;Phan Thị Ngọc;5/9/2010;10A1;Chưa có thẻ;Phan Văn Lộc;Bố;912345678;x;Có\r\n\
\r\n\
HN-1;112345679;Phan Văn Phúc;7/1/2012;8A;Ngân sách;Phan Văn Lộc;Bố;0912 345 678;x;Có\r\n";
    let (status, done) = import(&app, &t, "dry_run=false", file).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["students_created"], 2);
    assert_eq!(done["guardians_created"], 1);
    let list = app
        .api_json(&t, Method::GET, "/api/v1/students?class=8A")
        .await;
    let phuc = &list["items"][0];
    assert_eq!(
        phuc["si_number"], "0112345679",
        "the leading zero Excel dropped is restored"
    );
    assert_eq!(phuc["hi_status"], "state_funded");
    assert_eq!(phuc["date_of_birth"], "2012-01-07");
    // Row numbers count the blank line, as a spreadsheet shows it.
    let bad =
        "\u{feff}Mã trường;Họ và tên;Ngày sinh\r\nHN-1;A;1/1/2012\r\n\r\nHN-1;B;32/1/2012\r\n";
    let (_, report) = import(&app, &t, "dry_run=true", bad).await;
    assert_eq!(errors(&report), vec![(4, "date_of_birth".into())]);
}

#[tokio::test]
async fn hi_status_updates_by_file() {
    let (app, t) = setup().await;
    import(&app, &t, "dry_run=false", good_file()).await;
    let file = "school_code,si_number,full_name,date_of_birth,hi_status,card_valid_until\n\
HN-1,0112345678,,,insured,31/12/2026\n\
HN-1,,Lê Minh Đức,30/03/2011,uninsured,\n\
HN-1,0999999999,,,insured,\n";
    let (status, report) = import(&app, &t, "kind=hi_status&dry_run=false", file).await;
    assert_eq!(status, 422);
    assert_eq!(errors(&report), vec![(4, "si_number".into())]);
    let (status, done) = import(
        &app,
        &t,
        "kind=hi_status&dry_run=false&mode=valid_only",
        file,
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["students_updated"], 2);
    assert_eq!(
        done["students_created"], 0,
        "status files never create students"
    );
    let an = app
        .api_json(&t, Method::GET, "/api/v1/students?q=an&hi_status=insured")
        .await;
    assert_eq!(an["items"][0]["card_valid_until"], "2026-12-31");
    assert_eq!(
        an["items"][0]["class_name"], "10A1",
        "what the file leaves out stays"
    );
}

#[tokio::test]
async fn scope_and_masking_of_students_and_guardians() {
    let (app, t) = setup().await;
    import(&app, &t, "dry_run=false", good_file()).await;
    let other = "school_code,full_name,date_of_birth,guardian_name,guardian_phone\nHCM-1,Đặng Hải,01/02/2011,Đặng Long,0987000111\n";
    import(&app, &t, "dry_run=false", other).await;
    let all = app.api_json(&t, Method::GET, "/api/v1/students").await;
    assert_eq!(all["total"], 4);
    let hcm_student = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["school"]["code"] == "HCM-1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let hn_student = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["school"]["code"] == "HN-1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let hcm_guardian = app
        .api_json(&t, Method::GET, &format!("/api/v1/students/{hcm_student}"))
        .await["guardian_details"][0]["id"]
        .as_i64()
        .unwrap();

    let liaison = app.create_user("liaison", None, &["HN-1"]).await;
    let tl = app.token_for(&liaison).await;
    let mine = app.api_json(&tl, Method::GET, "/api/v1/students").await;
    assert_eq!(mine["total"], 3);
    assert_eq!(
        app.api_status(&tl, Method::GET, &format!("/api/v1/students/{hcm_student}"))
            .await,
        404
    );
    assert_eq!(
        app.api_status(
            &tl,
            Method::GET,
            &format!("/api/v1/guardians/{hcm_guardian}")
        )
        .await,
        404
    );
    let detail = app
        .api_json(&tl, Method::GET, &format!("/api/v1/students/{hn_student}"))
        .await;
    let phone = detail["guardian_details"][0]["phone"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        phone.is_empty() || !phone.contains('*'),
        "liaisons see contacts in full: {phone}"
    );

    let staff = app.create_user("staff", Some("01"), &[]).await;
    let ts = app.token_for(&staff).await;
    assert_eq!(
        app.api_json(&ts, Method::GET, "/api/v1/students").await["total"],
        3
    );
    let masked = app
        .api_json(&ts, Method::GET, "/api/v1/students?q=an")
        .await;
    assert!(masked["items"][0]["si_number"]
        .as_str()
        .unwrap()
        .contains('*'));
    let an = masked["items"][0]["id"].as_i64().unwrap();
    let d = app
        .api_json(&ts, Method::GET, &format!("/api/v1/students/{an}"))
        .await;
    assert_eq!(d["guardian_details"][0]["phone"], "+8491*****78");
    // Liaisons may record an HI status at their school, not elsewhere.
    let ok = app
        .api(
            &tl,
            Method::PUT,
            &format!("/api/v1/students/{hn_student}/hi_status"),
        )
        .json(&json!({"hi_status": "insured", "card_valid_until": "31/12/2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let no = app
        .api(
            &tl,
            Method::PUT,
            &format!("/api/v1/students/{hcm_student}/hi_status"),
        )
        .json(&json!({"hi_status": "insured"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no.status().as_u16(), 404);
    let bad = app
        .api(
            &tl,
            Method::PUT,
            &format!("/api/v1/students/{hn_student}/hi_status"),
        )
        .json(&json!({"hi_status": "maybe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    // Liaisons do not import students.
    let (status, _) = import(&app, &tl, "dry_run=true", good_file()).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn consent_decides_who_can_be_reached() {
    let (app, t) = setup().await;
    import(&app, &t, "dry_run=false", good_file()).await;
    let guardians: Vec<i64> = {
        use hi_outreach::contacts::entity::guardian;
        use sea_orm::{EntityTrait, QueryOrder};
        guardian::Entity::find()
            .order_by_asc(guardian::Column::Id)
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect()
    };
    let (mother, father) = (guardians[0], guardians[1]);
    let reach = |channel| {
        let app = &app;
        let ids = guardians.clone();
        async move {
            service::reachable(&app.db.conn, channel, &ids)
                .await
                .unwrap()
        }
    };
    assert_eq!(reach(Channel::Sms).await, vec![mother]);
    assert_eq!(reach(Channel::Zalo).await, vec![mother]);
    assert_eq!(reach(Channel::Email).await, vec![father]);
    assert_eq!(
        reach(Channel::Push).await,
        Vec::<i64>::new(),
        "nobody has the app"
    );

    // Withdrawal through the API wins over the earlier grant.
    let r = app
        .api(&t, Method::POST, &format!("/api/v1/guardians/{mother}/consents"))
        .json(&json!({"channel": "sms", "granted": false, "source": "school_form", "evidence": "phiếu 12"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(reach(Channel::Sms).await, Vec::<i64>::new());
    assert_eq!(reach(Channel::Zalo).await, vec![mother]);
    let history = app
        .api_json(&t, Method::GET, &format!("/api/v1/guardians/{mother}"))
        .await["consent_history"]
        .clone();
    assert_eq!(
        history.as_array().unwrap().len(),
        3,
        "history kept, newest first"
    );
    assert_eq!(history[0]["granted"], false);
    assert_eq!(history[0]["evidence"], "phiếu 12");
    let bad = app
        .api(
            &t,
            Method::POST,
            &format!("/api/v1/guardians/{mother}/consents"),
        )
        .json(&json!({"channel": "fax", "granted": true, "source": "import"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let body: Value = bad.json().await.unwrap();
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["channel", "source"]);
    // Re-importing the old list does not undo the parent's "no" on SMS; a file that says "no"
    // on Zalo is a withdrawal, recorded once for the two rows that say it.
    let no = good_file().replace(",có,có,có,\n", ",có,có,không,\n");
    let (_, report) = import(&app, &t, "dry_run=true", no.clone()).await;
    assert_eq!(report["consents_recorded"], 1, "{report}");
    let (_, report) = import(&app, &t, "dry_run=false", no).await;
    assert_eq!(report["consents_recorded"], 1, "{report}");
    assert_eq!(reach(Channel::Zalo).await, Vec::<i64>::new());
    assert_eq!(reach(Channel::Sms).await, Vec::<i64>::new());
    let _ = Actor::cli();
}

#[tokio::test]
async fn export_and_erasure_of_a_guardian() {
    let (app, t) = setup().await;
    import(&app, &t, "dry_run=false", good_file()).await;
    let list = app.api_json(&t, Method::GET, "/api/v1/students?q=an").await;
    let an = list["items"][0]["id"].as_i64().unwrap();
    let mother = app
        .api_json(&t, Method::GET, &format!("/api/v1/students/{an}"))
        .await["guardian_details"][0]["id"]
        .as_i64()
        .unwrap();

    let export = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/guardians/{mother}/export"),
        )
        .await;
    assert_eq!(export["guardian"]["phone"], "+84912345678");
    assert_eq!(export["guardian"]["full_name"], "Trần Thị Bình");
    assert_eq!(export["students"].as_array().unwrap().len(), 2);
    assert_eq!(export["consent_history"].as_array().unwrap().len(), 2);

    let staff = app.create_user("staff", None, &[]).await;
    let ts = app.token_for(&staff).await;
    assert_eq!(
        app.api_status(
            &ts,
            Method::GET,
            &format!("/api/v1/guardians/{mother}/export")
        )
        .await,
        403
    );
    assert_eq!(
        app.api_status(&ts, Method::DELETE, &format!("/api/v1/guardians/{mother}"))
            .await,
        403
    );

    assert_eq!(
        app.api_status(&t, Method::DELETE, &format!("/api/v1/guardians/{mother}"))
            .await,
        204
    );
    let after = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/guardians/{mother}/export"),
        )
        .await;
    assert_eq!(after["guardian"]["phone"], Value::Null);
    assert_eq!(after["guardian"]["full_name"], "—");
    assert!(after["guardian"]["erased_at"].is_string());
    assert_eq!(
        after["students"].as_array().unwrap().len(),
        2,
        "links (aggregate counts) kept"
    );
    assert_eq!(
        after["consent_history"].as_array().unwrap().len(),
        2,
        "proof of consent kept"
    );
    assert!(service::reachable(&app.db.conn, Channel::Sms, &[mother])
        .await
        .unwrap()
        .is_empty());
    // A later import does not bring the erased data back.
    import(&app, &t, "dry_run=false", good_file()).await;
    let again = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/guardians/{mother}/export"),
        )
        .await;
    assert_eq!(again["guardian"]["phone"], Value::Null);
    let audit = app
        .api_json(&t, Method::GET, "/api/v1/audit?action=guardian.")
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"guardian.erased") && actions.contains(&"guardian.exported"),
        "{actions:?}"
    );
    assert!(
        !serde_json::to_string(&audit).unwrap().contains("912345678"),
        "no phone numbers in the audit log"
    );
}

#[tokio::test]
async fn the_page_flow_checks_then_confirms() {
    let (app, _) = setup().await;
    let staff = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&staff).await;
    let token = app.csrf(&c, "/students/import").await;
    let form = reqwest::multipart::Form::new()
        .text("kind", "students")
        .part(
            "file",
            reqwest::multipart::Part::bytes(good_file().into_bytes()).file_name("hoc-sinh.csv"),
        );
    let page = c
        .post(app.url(&format!("/students/import?csrf_token={token}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("3 học sinh mới"), "report shown");
    assert_eq!(app.count("students").await, 0);
    assert!(
        app.count("import_chunks").await >= 1,
        "the upload waits, in pieces"
    );
    let start = html.find("/students/import/").unwrap();
    let end = html[start..].find('"').unwrap() + start;
    let r = app
        .post_form(
            &c,
            "/students/import",
            &html[start..end],
            &[("kind", "students"), ("mode", "all_or_nothing")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(app.count("students").await, 3);
    let (_, list) = app.get_text(&c, "/students?q=chi").await;
    assert!(list.contains("Nguyễn Thị Chi") && list.contains("Chưa có thẻ"));
    let (status, _) = app.get_text(&c, "/students").await;
    assert_eq!(status, 200);
}

const TEST_SECRET: &[u8] = b"test-secret-key-that-is-long-enough-0123456789";

#[tokio::test]
async fn unsubscribing_by_signed_link_without_logging_in() {
    use hi_outreach::contacts::unsubscribe;
    let (app, t) = setup().await;
    import(&app, &t, "dry_run=false", good_file()).await;
    let ids: Vec<i64> = {
        use hi_outreach::contacts::entity::guardian;
        use sea_orm::{EntityTrait, QueryOrder};
        guardian::Entity::find()
            .order_by_asc(guardian::Column::Id)
            .all(&app.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.id)
            .collect()
    };
    let (mother, father) = (ids[0], ids[1]);
    let anon = crate::helpers::client();
    let link = unsubscribe::url("", TEST_SECRET, mother, Channel::Sms);
    let (status, page) = app.get_text(&anon, &link).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Hủy nhận tin nhắc về BHYT học sinh"),
        "Vietnamese for a Vietnamese-speaking parent"
    );
    assert!(
        !page.contains("Trần Thị Bình") && !page.contains("0912"),
        "no personal data on the page"
    );
    let r = app
        .post_form(&anon, &link, &link, &[("scope", "channel")])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Đã ghi nhận"));
    assert!(service::reachable(&app.db.conn, Channel::Sms, &[mother])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        service::reachable(&app.db.conn, Channel::Zalo, &[mother])
            .await
            .unwrap(),
        vec![mother]
    );

    // Tampered links are unknown.
    let forged = link.replacen(&format!("/{mother}."), &format!("/{father}."), 1);
    assert_eq!(app.status(&anon, &forged).await, 404);
    let r = anon
        .post(app.url(&format!("{forged}/one-click")))
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // RFC 8058 one-click for e-mail: no cookie, no form token.
    let one_click = unsubscribe::one_click_url("", TEST_SECRET, father);
    assert_eq!(
        service::reachable(&app.db.conn, Channel::Email, &[father])
            .await
            .unwrap(),
        vec![father]
    );
    let bare = reqwest::Client::new();
    let r = bare
        .post(app.url(&one_click))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(service::reachable(&app.db.conn, Channel::Email, &[father])
        .await
        .unwrap()
        .is_empty());
    let r = bare
        .post(app.url(&one_click))
        .body("something=else")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // The plain page still needs its form token.
    let r = bare
        .post(app.url(&link))
        .form(&[("scope", "all")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Everything at once.
    let r = app
        .post_form(&anon, &link, &link, &[("scope", "all")])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    for ch in [Channel::Sms, Channel::Zalo, Channel::Email, Channel::Push] {
        assert!(service::reachable(&app.db.conn, ch, &[mother])
            .await
            .unwrap()
            .is_empty());
    }
    let g = app
        .api_json(&t, Method::GET, &format!("/api/v1/guardians/{mother}"))
        .await;
    assert!(g["opted_out_at"].is_string());
    assert_eq!(g["consent_history"][0]["source"], "unsubscribe");
    let audit = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/audit?entity_type=guardian&entity_id={mother}"),
        )
        .await;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["actor"] == "guardian (unsubscribe link)"));
}
