use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app, TestApp};

const GOOD: &str = "code,name,level,province_code,commune_code,commune_name,enrolled_students,address\n\
79THPT900,Trường THPT Nguyễn Thị Minh Khai,THPT,79,79900,Phường Bến Thành,1.850,\"275 Điện Biên Phủ, Phường Bến Thành\"\n\
79TH901,Trường Tiểu học Kim Đồng,primary,79,79900,Phường Bến Thành,640,\n\
01MN902,Trường Mầm non Hoa Sen,Mầm non,01,,,210,\n";

async fn import(app: &TestApp, token: &str, dry_run: bool, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .api(
            token,
            Method::POST,
            &format!("/api/v1/schools/import?dry_run={dry_run}"),
        )
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn dry_run_reports_every_bad_row_and_writes_nothing() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let bad = "code,name,level,province_code,enrolled_students\n\
OK1,Trường THCS Lê Lợi,THCS,01,500\n\
,Trường không mã,THCS,01,10\n\
BAD2,Trường B,kindergarten,01,10\n\
BAD3,Trường C,primary,99,10\n\
BAD4,Trường D,primary,01,mười\n\
OK1,Trùng mã,primary,01,10\n\
BAD5,Trường E,primary,01,10,extra\n";
    let before = app.count("schools").await;
    let (status, report) = import(&app, &t, true, bad.as_bytes().to_vec()).await;
    assert_eq!(status, 422, "a dry run that finds bad rows answers 422");
    let errors: Vec<(u64, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (3, "code".into()),
            (4, "level".into()),
            (5, "province_code".into()),
            (6, "enrolled_students".into()),
            (7, "code".into()),
            (8, "".into()),
        ],
        "{report}"
    );
    assert_eq!(report["invalid_rows"], 6);
    assert_eq!(report["status"], "rejected");
    assert!(report["errors"][1]["message"]
        .as_str()
        .unwrap()
        .contains("preschool"));
    // Committing the same file writes nothing at all.
    let (status, report) = import(&app, &t, false, bad.as_bytes().to_vec()).await;
    assert_eq!(status, 422);
    assert_eq!(report["status"], "rejected");
    assert_eq!(app.count("schools").await, before);
    assert_eq!(app.count("imports").await, 0);
}

#[tokio::test]
async fn missing_columns_are_named() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let (_, report) = import(&app, &t, true, b"code;name\nA;B\n".to_vec()).await;
    let cols: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["column"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["level", "province_code"]);
    assert_eq!(report["errors"][0]["row"], 1);
}

#[tokio::test]
async fn a_clean_file_commits_with_bom_and_reimporting_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(GOOD.as_bytes());
    let (status, dry) = import(&app, &t, true, bytes.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(dry["errors"].as_array().unwrap().len(), 0, "{dry}");
    assert_eq!(dry["to_create"], 3);
    assert_eq!(dry["new_communes"][0], "79900 Phường Bến Thành");
    assert_eq!(app.count("schools").await, 0, "dry run wrote nothing");

    let (status, done) = import(&app, &t, false, bytes.clone()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "committed");
    assert_eq!(app.count("schools").await, 3);
    assert_eq!(app.count("communes").await, 1);
    let list: Value = app
        .api_json(&t, Method::GET, "/api/v1/schools?q=nguyen+thi+minh+khai")
        .await;
    assert_eq!(list["total"], 1);
    let school = &list["items"][0];
    assert_eq!(school["name"], "Trường THPT Nguyễn Thị Minh Khai");
    assert_eq!(school["enrolled_students"], 1850);
    assert_eq!(school["address"], "275 Điện Biên Phủ, Phường Bến Thành");
    assert_eq!(school["commune"]["name"], "Phường Bến Thành");

    let (_, again) = import(&app, &t, false, bytes).await;
    assert_eq!(again["unchanged"], 3);
    assert_eq!(again["to_create"], 0);
    assert_eq!(again["to_update"], 0);
    assert_eq!(app.count("schools").await, 3);

    let changed = GOOD.replace("640", "700");
    let (_, upd) = import(&app, &t, false, changed.into_bytes()).await;
    assert_eq!(upd["to_update"], 1);
    assert_eq!(upd["unchanged"], 2);
}

#[tokio::test]
async fn province_staff_import_only_into_their_province_and_liaisons_not_at_all() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", Some("79"), &[]).await;
    let t = app.token_for(&staff).await;
    let (_, report) = import(&app, &t, true, GOOD.as_bytes().to_vec()).await;
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[0]["column"], "province_code");
    let liaison = app.create_user("liaison", None, &[]).await;
    let tl = app.token_for(&liaison).await;
    let r = app
        .api(&tl, Method::POST, "/api/v1/schools/import")
        .body(GOOD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn the_page_flow_checks_then_writes_on_confirmation() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&staff).await;
    let token = app.csrf(&c, "/schools/import").await;
    let upload = |content: &'static str| {
        let c = c.clone();
        let url = app.url(&format!("/schools/import?csrf_token={token}"));
        async move {
            let part = reqwest::multipart::Part::bytes(content.as_bytes().to_vec())
                .file_name("truong.csv");
            c.post(url)
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
                .unwrap()
        }
    };
    let bad = upload("code,name,level,province_code\nX,,primary,01\n").await;
    assert_eq!(bad.status().as_u16(), 200);
    let page = bad.text().await.unwrap();
    assert!(page.contains("Tệp có lỗi") && page.contains("<code>name</code>"));
    assert!(
        !page.contains("/commit"),
        "no confirm button for a bad file"
    );

    let good = upload(GOOD).await.text().await.unwrap();
    assert!(good.contains("Xác nhận nhập"));
    assert_eq!(
        app.count("schools").await,
        0,
        "nothing written before confirmation"
    );
    let start = good.find("/schools/import/").unwrap();
    let end = good[start..].find('"').unwrap() + start;
    let commit_path = good[start..end].to_string();
    let r = app
        .post_form(&c, "/schools/import", &commit_path, &[])
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(app.count("schools").await, 3);
    // A second confirmation is refused.
    let again = app
        .post_form(&c, "/schools/import", &commit_path, &[])
        .await;
    assert_eq!(again.status().as_u16(), 409);
    assert_eq!(app.count("schools").await, 3);
    // Without the token the upload is refused.
    let part = reqwest::multipart::Part::bytes(GOOD.as_bytes().to_vec()).file_name("x.csv");
    let r = c
        .post(app.url("/schools/import"))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn columns_left_out_keep_the_stored_values() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let (status, _) = import(&app, &t, false, GOOD.as_bytes().to_vec()).await;
    assert_eq!(status, 200);
    // Only the required columns: the name changes, enrolment, address and commune stay.
    let slim = "code,name,level,province_code\n79THPT900,Trường THPT Nguyễn Thị Minh Khai (cơ sở 1),THPT,79\n";
    let (status, report) = import(&app, &t, false, slim.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["to_update"], 1);
    // Empty cells keep stored values too.
    let blanks = "code,name,level,province_code,enrolled_students,address\n79TH901,Trường Tiểu học Kim Đồng,primary,79,,\n";
    let (_, report) = import(&app, &t, false, blanks.as_bytes().to_vec()).await;
    assert_eq!(report["unchanged"], 1, "{report}");
    let list = app
        .api_json(&t, Method::GET, "/api/v1/schools?province=79")
        .await;
    let items = list["items"].as_array().unwrap();
    let thpt = items.iter().find(|s| s["code"] == "79THPT900").unwrap();
    assert_eq!(thpt["name"], "Trường THPT Nguyễn Thị Minh Khai (cơ sở 1)");
    assert_eq!(thpt["enrolled_students"], 1850);
    assert_eq!(thpt["address"], "275 Điện Biên Phủ, Phường Bến Thành");
    assert_eq!(thpt["commune"]["code"], "79900");
    let th = items.iter().find(|s| s["code"] == "79TH901").unwrap();
    assert_eq!(th["enrolled_students"], 640);
}

#[tokio::test]
async fn imported_schools_and_communes_are_audited() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let (status, done) = import(&app, &t, false, GOOD.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{done}");
    let created = app
        .api_json(&t, Method::GET, "/api/v1/audit?action=school.created")
        .await;
    assert_eq!(created["total"], 3);
    assert_eq!(created["items"][0]["summary"]["via"], "api.csv");
    let communes = app
        .api_json(&t, Method::GET, "/api/v1/audit?action=commune.created")
        .await;
    assert_eq!(communes["total"], 1);
    let summary = app
        .api_json(&t, Method::GET, "/api/v1/audit?action=import.committed")
        .await;
    assert_eq!(summary["items"][0]["summary"]["created"], 3);
}

#[tokio::test]
async fn racing_confirmations_write_once() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&staff).await;
    let token = app.csrf(&c, "/schools/import").await;
    let part = reqwest::multipart::Part::bytes(GOOD.as_bytes().to_vec()).file_name("truong.csv");
    let page = c
        .post(app.url(&format!("/schools/import?csrf_token={token}")))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("/schools/import/").unwrap();
    let end = page[start..].find('"').unwrap() + start;
    let commit = app.url(&page[start..end]);
    let token = app.csrf(&c, "/schools/import").await;
    let send = || {
        c.post(&commit)
            .form(&[("csrf_token", token.as_str())])
            .send()
    };
    let (a, b) = tokio::join!(send(), send());
    let mut statuses = vec![a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 409]);
    assert_eq!(app.count("schools").await, 3);
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let committed = app
        .api_json(&t, Method::GET, "/api/v1/audit?action=import.committed")
        .await;
    assert_eq!(committed["total"], 1);
}
