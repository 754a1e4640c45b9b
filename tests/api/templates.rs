use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn default_templates_are_there_in_both_languages() {
    let app = spawn_app().await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let all = app.api_json(&t, Method::GET, "/api/v1/templates").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        24,
        "3 purposes × 4 channels × 2 languages"
    );
    let sms_vi = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/templates?channel=sms&language=vi&purpose=deadline_reminder",
        )
        .await;
    assert_eq!(sms_vi.as_array().unwrap().len(), 1);
    let thanks = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/templates?channel=email&language=en&purpose=thank_you",
        )
        .await;
    assert!(thanks[0]["content"]["subject"]
        .as_str()
        .unwrap()
        .contains("Thank you"));
    // Every default renders with sample data.
    for tpl in all.as_array().unwrap() {
        let id = tpl["id"].as_i64().unwrap();
        let r = app
            .api(&t, Method::POST, &format!("/api/v1/templates/{id}/preview"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", tpl["code"]);
    }
}

#[tokio::test]
async fn template_errors_name_the_field_and_line() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", None, &[]).await;
    let t = app.token_for(&staff).await;
    let body = json!({
        "name": "Nhắc hạn", "purpose": "deadline_reminder", "language": "vi",
        "content": {"channel": "email", "subject": "Chào {{guardian_name}}",
            "html": "<p>{{#each students}}{{name}}</p>",
            "text": "Dòng 1\nDòng 2 {{hoc_phi}}"}
    });
    let r = app
        .api(&t, Method::POST, "/api/v1/templates")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let p: Value = r.json().await.unwrap();
    let errors: Vec<(&str, &str, &str)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{p}");
    assert_eq!(
        (errors[0].0, errors[0].1),
        ("html", "error-template-syntax")
    );
    assert_eq!(
        (errors[1].0, errors[1].1),
        ("text", "error-template-unknown")
    );
    assert!(
        errors[1].2.contains("hoc_phi") && errors[1].2.contains("dòng 2"),
        "{}",
        errors[1].2
    );
    let liaison = app.create_user("liaison", None, &[]).await;
    let tl = app.token_for(&liaison).await;
    let ok_body = json!({"name": "X", "purpose": "custom", "language": "vi", "content": {"channel": "sms", "text": "Chào {{guardian_name}}"}});
    let r = app
        .api(&tl, Method::POST, "/api/v1/templates")
        .json(&ok_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        app.api_status(&tl, Method::GET, "/api/v1/templates").await,
        200
    );
}

#[tokio::test]
async fn every_edit_is_a_new_version_and_old_versions_stay_readable() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", None, &[]).await;
    let t = app.token_for(&staff).await;
    let body = |text: &str| json!({"name": "Nhắc con", "purpose": "custom", "language": "vi", "content": {"channel": "sms", "text": text}});
    let r = app
        .api(&t, Method::POST, "/api/v1/templates")
        .json(&body("Chào {{guardian_name}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["current_version"], 1);
    let v2: Value = app
        .api(&t, Method::PUT, &format!("/api/v1/templates/{id}"))
        .json(&body("Kính gửi {{guardian_name}}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v2["current_version"], 2);
    let same: Value = app
        .api(&t, Method::PUT, &format!("/api/v1/templates/{id}"))
        .json(&body("Kính gửi {{guardian_name}}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        same["current_version"], 2,
        "saving unchanged content makes no version"
    );
    let old = app
        .api_json(
            &t,
            Method::GET,
            &format!("/api/v1/templates/{id}?version=1"),
        )
        .await;
    assert_eq!(old["content"]["text"], "Chào {{guardian_name}}");
    assert_eq!(old["versions"].as_array().unwrap().len(), 2);
    let email = json!({"name": "x", "purpose": "custom", "language": "vi", "content": {"channel": "email", "subject": "a", "html": "b", "text": "c"}});
    let r = app
        .api(&t, Method::PUT, &format!("/api/v1/templates/{id}"))
        .json(&email)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "the channel is fixed");
    let audit = app.create_user("admin", None, &[]).await;
    let ta = app.token_for(&audit).await;
    let entries = app
        .api_json(
            &ta,
            Method::GET,
            &format!("/api/v1/audit?entity_type=template&entity_id={id}"),
        )
        .await;
    assert_eq!(entries["total"], 2, "created and one new version");
}

#[tokio::test]
async fn previews_show_what_a_parent_receives() {
    let app = spawn_app().await;
    app.create_school("HN-1", "Trường THCS Nguyễn Du", "01")
        .await;
    app.create_school("HCM-1", "Trường THCS Lê Lợi", "79").await;
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    let csv =
        "school_code,full_name,date_of_birth,class_name,hi_status,guardian_name,guardian_phone\n\
HN-1,Nguyễn Văn An,05/09/2010,9A,uninsured,Trần Thị Bình,0912345678\n\
HCM-1,Đặng Hải,01/02/2011,6B,uninsured,Đặng Long,0987000111\n";
    let r = app
        .api(&t, Method::POST, "/api/v1/students/import?dry_run=false")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sms = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/templates?channel=sms&language=vi&purpose=deadline_reminder",
        )
        .await[0]["id"]
        .as_i64()
        .unwrap();
    // A custom SMS in Vietnamese with diacritics.
    let body = json!({"name": "Có dấu", "purpose": "custom", "language": "vi", "content": {"channel": "sms",
        "text": "Kính gửi {{guardian_name}}: {{#each students}}{{name}} ({{class}}) {{hi_status}}{{/each}}. Hạn {{deadline}}, mức đóng {{premium}}."}});
    let custom: Value = app
        .api(&t, Method::POST, "/api/v1/templates")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = custom["id"].as_i64().unwrap();

    let sample: Value = app
        .api(&t, Method::POST, &format!("/api/v1/templates/{id}/preview"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sample["data"], "sample");
    let text = sample["rendered"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Kính gửi Trần Thị Bình: Nguyễn Văn An (9A) chưa có thẻ BHYT"),
        "{text}"
    );
    assert!(
        text.contains("Hạn 31/12/2026, mức đóng 884.520 đồng."),
        "{text}"
    );
    let info = &sample["rendered"]["info"];
    assert_eq!(info["encoding"], "UCS-2");
    let units = text.encode_utf16().count() as u64;
    assert_eq!(info["units"], units);
    assert_eq!(info["segments"], units.div_ceil(67));
    assert_eq!(info["unaccented_length"]["encoding"], "GSM-7");
    assert!(info["unaccented"]
        .as_str()
        .unwrap()
        .starts_with("Kinh gui Tran Thi Binh"));

    let guardians = app
        .api_json(&t, Method::GET, "/api/v1/students?school=HN-1")
        .await;
    let student = guardians["items"][0]["id"].as_i64().unwrap();
    let gid = app
        .api_json(&t, Method::GET, &format!("/api/v1/students/{student}"))
        .await["guardian_details"][0]["id"]
        .as_i64()
        .unwrap();
    let real: Value = app
        .api(
            &t,
            Method::POST,
            &format!("/api/v1/templates/{sms}/preview"),
        )
        .json(&json!({"guardian_id": gid}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(real["data"], "guardian");
    assert!(real["rendered"]["text"]
        .as_str()
        .unwrap()
        .contains("Nguyễn Văn An"));
    // Someone else's guardian does not exist for a liaison of HCM-1.
    let liaison = app.create_user("liaison", None, &["HCM-1"]).await;
    let tl = app.token_for(&liaison).await;
    let r = app
        .api(
            &tl,
            Method::POST,
            &format!("/api/v1/templates/{sms}/preview"),
        )
        .json(&json!({"guardian_id": gid}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // E-mail: values are escaped in HTML, not in the text part or the subject.
    let email = app
        .api_json(
            &t,
            Method::GET,
            "/api/v1/templates?channel=email&language=vi&purpose=deadline_reminder",
        )
        .await[0]["id"]
        .as_i64()
        .unwrap();
    let e: Value = app
        .api(
            &t,
            Method::POST,
            &format!("/api/v1/templates/{email}/preview"),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(e["rendered"]["subject"]
        .as_str()
        .unwrap()
        .contains("Nguyễn Văn An và Nguyễn Thị Chi"));
    assert!(e["rendered"]["html"]
        .as_str()
        .unwrap()
        .contains("<strong>Nguyễn Văn An</strong>"));
}

#[tokio::test]
async fn template_pages_show_errors_beside_fields() {
    let app = spawn_app().await;
    let staff = app.create_user("staff", None, &[]).await;
    let c = app.signed_in(&staff).await;
    let (status, list) = app.get_text(&c, "/templates").await;
    assert_eq!(status, 200);
    assert!(list.contains("Nhắc hạn đóng BHYT học sinh"));
    let (status, _) = app.get_text(&c, "/templates/new?channel=zalo").await;
    assert_eq!(status, 200);
    let r = app
        .post_form(
            &c,
            "/templates/new?channel=sms",
            "/templates/new",
            &[
                ("name", "Thử"),
                ("purpose", "custom"),
                ("language", "vi"),
                ("channel", "sms"),
                ("text", "Chào {{ten_phu_huynh}}"),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"e-text\"") && page.contains("ten_phu_huynh"));
    let r = app
        .post_form(
            &c,
            "/templates/new?channel=zalo",
            "/templates/new",
            &[
                ("name", "ZNS"),
                ("purpose", "custom"),
                ("language", "vi"),
                ("channel", "zalo"),
                ("template_id", "123456"),
                (
                    "params",
                    "parent_name = {{guardian_name}}\r\nstudent = {{students}}\r\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 422, "a list is not a value");
    let r = app
        .post_form(
            &c,
            "/templates/new?channel=zalo",
            "/templates/new",
            &[
                ("name", "ZNS"),
                ("purpose", "custom"),
                ("language", "vi"),
                ("channel", "zalo"),
                ("template_id", "123456"),
                (
                    "params",
                    "parent_name = {{guardian_name}}\r\nstudent = {{student_names}}\r\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (status, page) = app.get_text(&c, &location).await;
    assert_eq!(status, 200);
    assert!(page.contains("Trần Thị Bình"), "preview with sample data");
}
