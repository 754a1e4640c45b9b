//! The synthetic country of `hi-outreach generate`.
use chrono::Datelike;
use hi_outreach::generate::{generate, Scale};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{send, spawn_app, undo_migrations_from, TestApp, User};

/// The first column of the first row of `sql`.
async fn one<T: sea_orm::TryGetable>(app: &TestApp, sql: &str) -> T {
    app.db
        .conn
        .query_one(Statement::from_string(app.db.backend(), sql.to_string()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<T>(0)
        .unwrap()
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    one(app, sql).await
}

#[tokio::test]
async fn a_small_country_has_siblings_consent_and_enrollment_figures() {
    let app = spawn_app().await;
    // Rows made and deleted before: the tables' id sequences have moved past their highest
    // ids, so generated ids do not start at MAX(id) + 1.
    let t = if app.db.backend() == sea_orm::DbBackend::Postgres {
        "TRUE"
    } else {
        "1"
    };
    for sql in [
        "INSERT INTO schools (code, name, level, province_id, enrolled_students, search_key, created_at, updated_at)          SELECT 'OLD', 'Trường cũ', 'primary', MIN(id), 1, 'truong cu', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00' FROM provinces".to_string(),
        "INSERT INTO students (school_id, full_name, search_key, date_of_birth, hi_status, created_at, updated_at)          SELECT id, 'Cũ', 'cu', '2015-01-01', 'insured', created_at, created_at FROM schools".to_string(),
        format!("INSERT INTO guardians (full_name, search_key, relationship, zalo, language, channel_order, created_at, updated_at)          VALUES ('Cũ', 'cu', 'mother', {t}, 'vi', 'sms', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')"),
        "DELETE FROM students".to_string(),
        "DELETE FROM schools".to_string(),
        "DELETE FROM guardians".to_string(),
    ] {
        app.db
            .conn
            .execute(Statement::from_string(app.db.backend(), sql))
            .await
            .unwrap();
    }
    let mut steps: Vec<(String, i64, i64)> = Vec::new();
    let made = generate(&app.db, Scale::Small, &mut |s, done, all| {
        steps.push((s.to_string(), done, all))
    })
    .await
    .unwrap();
    let shape = Scale::Small.shape();
    assert_eq!(
        (made.communes, made.schools, made.students, made.guardians),
        (68, 200, 20_000, 16_000)
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM communes").await, 68);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM schools").await, 200);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM students").await, 20_000);
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM guardians").await, 16_000);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM student_guardians").await,
        20_000
    );
    // Every fifth child shares a parent with the one before: 4,000 parents of two.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM (SELECT guardian_id FROM student_guardians GROUP BY guardian_id HAVING COUNT(*) = 2) t"
        )
        .await,
        4_000
    );
    // Siblings go to the same school (but for the few at a school's edge).
    let apart = scalar(
        &app,
        "SELECT COUNT(*) FROM student_guardians a JOIN student_guardians b \
           ON a.guardian_id = b.guardian_id AND a.student_id < b.student_id \
         JOIN students sa ON sa.id = a.student_id JOIN students sb ON sb.id = b.student_id \
         WHERE sa.school_id <> sb.school_id",
    )
    .await;
    assert!(apart < 200, "{apart} sibling pairs at different schools");
    // Siblings are twins: one birthday, one family name, their father's; a mother keeps hers.
    let family = |name: &str| {
        name.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let rows = app
        .db
        .conn
        .query_all(Statement::from_string(
            app.db.backend(),
            "SELECT sa.full_name AS a, sb.full_name AS b, \
                    CASE WHEN sa.date_of_birth = sb.date_of_birth THEN 1 ELSE 0 END AS same_day \
             FROM student_guardians x JOIN student_guardians y \
               ON x.guardian_id = y.guardian_id AND x.student_id < y.student_id \
             JOIN students sa ON sa.id = x.student_id JOIN students sb ON sb.id = y.student_id",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4_000);
    for row in &rows {
        let (a, b): (String, String) =
            (row.try_get("", "a").unwrap(), row.try_get("", "b").unwrap());
        assert_eq!(family(&a), family(&b), "{a} / {b}");
        assert_eq!(row.try_get::<i32>("", "same_day").unwrap(), 1, "{a} / {b}");
    }
    let parents = app
        .db
        .conn
        .query_all(Statement::from_string(
            app.db.backend(),
            "SELECT s.full_name AS child, g.full_name AS parent, g.relationship AS relationship \
             FROM student_guardians x JOIN students s ON s.id = x.student_id \
             JOIN guardians g ON g.id = x.guardian_id",
        ))
        .await
        .unwrap();
    let mut mothers_own = 0;
    for row in &parents {
        let child: String = row.try_get("", "child").unwrap();
        let parent: String = row.try_get("", "parent").unwrap();
        let relationship: String = row.try_get("", "relationship").unwrap();
        if relationship == "father" {
            assert_eq!(family(&child), family(&parent), "{child} / {parent}");
        } else if family(&child) != family(&parent) {
            mothers_own += 1;
        }
    }
    assert!(
        mothers_own > 1_000,
        "{mothers_own} mothers with their own family name"
    );
    // Birthdays spread over the year, in the year that fits the school's grade.
    assert!(
        scalar(&app, "SELECT COUNT(DISTINCT date_of_birth) FROM students").await > 300,
        "birthdays spread over the year"
    );
    let start = {
        let today = hi_outreach::school_year::today();
        if today.month() >= 9 {
            today.year()
        } else {
            today.year() - 1
        }
    };
    for (grade, age) in [("5", 10), ("8", 13), ("11", 16), ("MG", 5)] {
        let year = start - age;
        let outside = scalar(
            &app,
            &format!(
                "SELECT COUNT(*) FROM students WHERE grade = '{grade}' \
                 AND (date_of_birth < '{year}-01-01' OR date_of_birth > '{year}-12-31')"
            ),
        )
        .await;
        let inside = scalar(
            &app,
            &format!("SELECT COUNT(*) FROM students WHERE grade = '{grade}'"),
        )
        .await;
        assert!(inside > 0, "grade {grade}");
        assert_eq!(outside, 0, "grade {grade}: born in {year}");
    }
    // Every province has communes; a school's province is its commune's.
    assert_eq!(
        scalar(&app, "SELECT COUNT(DISTINCT province_id) FROM communes").await,
        34
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM schools s JOIN communes c ON c.id = s.commune_id WHERE c.province_id <> s.province_id"
        )
        .await,
        0
    );
    // Vietnamese names, with their folded search keys.
    let name = one::<String>(&app, "SELECT full_name FROM students ORDER BY id LIMIT 1").await;
    let key = one::<String>(&app, "SELECT search_key FROM students ORDER BY id LIMIT 1").await;
    assert_eq!(key, hi_outreach::fields::fold(&name), "{name}");
    assert!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM students WHERE full_name LIKE 'Nguyễn %'"
        )
        .await
            > 0
    );
    // A mix of HI status and consent, refusals included.
    for status in ["insured", "uninsured", "state_funded"] {
        assert!(
            scalar(
                &app,
                &format!("SELECT COUNT(*) FROM students WHERE hi_status = '{status}'")
            )
            .await
                > 0,
            "{status}"
        );
    }
    for channel in ["zalo", "sms", "email", "push"] {
        let sql = format!("SELECT COUNT(*) FROM consents WHERE channel = '{channel}'");
        assert!(scalar(&app, &sql).await > 0, "{channel}");
    }
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM consents").await,
        made.consents
    );
    assert!(scalar(&app, "SELECT COUNT(*) FROM consents WHERE NOT granted").await > 0);
    // Monthly figures of the school year so far, at most the school's students insured.
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM enrollment_snapshots").await,
        made.snapshots
    );
    assert_eq!(made.snapshots % shape.schools, 0);
    assert!(made.snapshots >= shape.schools);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM enrollment_snapshots WHERE insured > enrolled OR insured < 0"
        )
        .await,
        0
    );
    // Progress was told for each step, ending complete.
    let last = steps.last().unwrap();
    assert_eq!(last.1, last.2);
    assert!(steps
        .iter()
        .any(|(s, done, all)| s == "students" && done == all));

    // A second run is refused and writes nothing.
    let err = generate(&app.db, Scale::Small, &mut |_, _, _| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("already holds 200 schools"),
        "{err}"
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM students").await, 20_000);
}

/// A small generated country, and an API token of an admin.
async fn small_country_and_admin_token() -> (TestApp, User, String) {
    let app = spawn_app().await;
    generate(&app.db, Scale::Small, &mut |_, _, _| {})
        .await
        .unwrap();
    let admin = app.create_user("admin", None, &[]).await;
    let t = app.token_for(&admin).await;
    (app, admin, t)
}

#[tokio::test]
async fn long_lists_are_counted_up_to_a_cap() {
    let (app, admin, t) = small_country_and_admin_token().await;
    // 20,000 students: counted to 1,000, and said to be more.
    let all = app
        .api_json(&t, reqwest::Method::GET, "/api/v1/students?per_page=200")
        .await;
    assert_eq!(all["total"], 1_000);
    assert_eq!(all["total_exact"], false);
    assert_eq!(all["pages"], 5);
    assert_eq!(all["items"].as_array().unwrap().len(), 200);
    // A page past the count still answers.
    let far = app
        .api_json(
            &t,
            reqwest::Method::GET,
            "/api/v1/students?page=90&per_page=200",
        )
        .await;
    assert_eq!(far["items"].as_array().unwrap().len(), 200);
    // A search is counted to 200 matches.
    let common = scalar(
        &app,
        "SELECT COUNT(*) FROM students WHERE search_key LIKE '%nguyen%'",
    )
    .await;
    assert!(common > 200, "{common} students named Nguyễn");
    let found = app
        .api_json(&t, reqwest::Method::GET, "/api/v1/students?q=Nguyễn")
        .await;
    assert_eq!(found["total"], 200);
    assert_eq!(found["total_exact"], false);
    assert_eq!(found["items"].as_array().unwrap().len(), 50);
    // A narrower list is counted exactly.
    let one: String = one(&app, "SELECT code FROM schools ORDER BY id LIMIT 1").await;
    let n = scalar(
        &app,
        &format!("SELECT COUNT(*) FROM students WHERE school_id = (SELECT id FROM schools WHERE code = '{one}')"),
    )
    .await;
    let page = app
        .api_json(
            &t,
            reqwest::Method::GET,
            &format!("/api/v1/students?school={one}"),
        )
        .await;
    assert_eq!(page["total"], n);
    assert_eq!(page["total_exact"], true);
    // Past its end: no row carries the count, which is still given, and exact.
    let past = app
        .api_json(
            &t,
            reqwest::Method::GET,
            &format!("/api/v1/students?school={one}&page=999"),
        )
        .await;
    assert_eq!(past["items"].as_array().unwrap().len(), 0, "{past}");
    assert_eq!(past["total"], n);
    assert_eq!(past["total_exact"], true);
    // A search within a school: its values are bound in the page and in the count it carries.
    let both = scalar(
        &app,
        &format!(
            "SELECT COUNT(*) FROM students WHERE search_key LIKE '%nguyen%' \
             AND school_id = (SELECT id FROM schools WHERE code = '{one}')"
        ),
    )
    .await;
    assert!(both > 0, "{one} has students named Nguyễn");
    let found = app
        .api_json(
            &t,
            reqwest::Method::GET,
            &format!("/api/v1/students?school={one}&q=Nguyễn&per_page=1"),
        )
        .await;
    assert_eq!(found["total"], both, "{found}");
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    // Schools: 200, four pages of 50, then an empty fifth that still counts them.
    for (page, len) in [(4, 50), (5, 0)] {
        let schools = app
            .api_json(
                &t,
                reqwest::Method::GET,
                &format!("/api/v1/schools?page={page}"),
            )
            .await;
        assert_eq!(schools["items"].as_array().unwrap().len(), len, "{schools}");
        assert_eq!(schools["total"], 200);
        assert_eq!(schools["total_exact"], true);
    }
    // The page of the list says "more than".
    let c = app.signed_in(&admin).await;
    let (status, html) = app.get_text(&c, "/students").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Hơn 1000 kết quả") || html.contains("Hơn 1.000 kết quả"),
        "{html}"
    );
    // Its pager: 50 a page, 1,000 counted, more beyond.
    assert!(html.contains("Trang 1 / hơn 20"), "{html}");
    assert!(html.contains(r#"rel="next""#), "{html}");
    assert!(!html.contains(r#"rel="prev""#), "{html}");
    let (status, html) = app.get_text(&c, "/students?page=20").await;
    assert_eq!(status, 200);
    assert!(html.contains("Trang 20 / hơn 20"), "{html}");
    assert!(html.contains(r#"rel="prev""#), "{html}");
    assert!(html.contains(r#"rel="next""#), "{html}");
}

#[tokio::test]
async fn a_list_counted_past_its_cap_is_taken_to_go_on_briefly_and_never_past_a_change_made_here() {
    use hi_outreach::web::paging::PAST_CAP_FOR;
    use std::time::Instant;
    let (app, _, t) = small_country_and_admin_token().await;
    // Exactly 1,001 state-funded students: one more than the count goes.
    for sql in [
        "UPDATE students SET hi_status = 'insured' WHERE hi_status = 'state_funded'",
        "UPDATE students SET hi_status = 'state_funded' \
         WHERE id IN (SELECT id FROM students ORDER BY id LIMIT 1001)",
    ] {
        app.db
            .conn
            .execute(Statement::from_string(app.db.backend(), sql.to_string()))
            .await
            .unwrap();
    }
    let funded = "/api/v1/students?hi_status=state_funded";
    let counted = |v: &serde_json::Value| (v["total"].as_u64().unwrap(), v["total_exact"].clone());
    let read_at = Instant::now();
    let list = app.api_json(&t, reqwest::Method::GET, funded).await;
    assert_eq!(counted(&list), (1_000, false.into()), "{list}");
    // One of them changed straight in the database, as another instance would: 1,000 are left,
    // which the count reaches exactly. Until `PAST_CAP_FOR` is over the list is still taken
    // to go on (asserted only when the requests were that quick).
    let first: i64 = one(
        &app,
        "SELECT id FROM students WHERE hi_status = 'state_funded' ORDER BY id LIMIT 1",
    )
    .await;
    app.db
        .conn
        .execute(Statement::from_string(
            app.db.backend(),
            format!("UPDATE students SET hi_status = 'insured' WHERE id = {first}"),
        ))
        .await
        .unwrap();
    let list = app.api_json(&t, reqwest::Method::GET, funded).await;
    if read_at.elapsed() < PAST_CAP_FOR {
        assert_eq!(counted(&list), (1_000, false.into()), "{list}");
    }
    tokio::time::sleep(PAST_CAP_FOR.saturating_sub(read_at.elapsed()) + PAST_CAP_FOR / 10).await;
    let list = app.api_json(&t, reqwest::Method::GET, funded).await;
    assert_eq!(counted(&list), (1_000, true.into()), "{list}");
    // Back to 1,001 and counted past the cap again, then one moved out through this instance:
    // the next page counts again at once.
    let path = format!("/api/v1/students/{first}/hi_status");
    for (status, expected) in [("state_funded", (1_000, false)), ("insured", (1_000, true))] {
        let (code, body) = send(
            &app,
            &t,
            reqwest::Method::PUT,
            &path,
            serde_json::json!({ "hi_status": status }),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let list = app.api_json(&t, reqwest::Method::GET, funded).await;
        assert_eq!(counted(&list), (expected.0, expected.1.into()), "{list}");
    }
}

/// The names of the indexes of `table`.
async fn indexes(app: &TestApp, table: &str) -> Vec<String> {
    let sql = if app.db.backend() == sea_orm::DbBackend::Postgres {
        format!("SELECT indexname FROM pg_indexes WHERE tablename = '{table}' ORDER BY 1")
    } else {
        format!("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}' ORDER BY 1")
    };
    app.db
        .conn
        .query_all(Statement::from_string(app.db.backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect()
}

#[tokio::test]
async fn the_list_indexes_migration_is_undone_and_done_again() {
    use migration::{Migrator, MigratorTrait};
    let app = spawn_app().await;
    let has = |names: &[String], name: &str| names.iter().any(|n| n == name);
    // The student list is read from `ix_students_list`, on PostgreSQL from `ix_students_page`
    // (the same key with the shown columns included), which a later migration put in its place.
    let postgres = app.db.backend() == sea_orm::DbBackend::Postgres;
    let page_index = if postgres {
        "ix_students_page"
    } else {
        "ix_students_list"
    };
    // As every migration leaves them.
    let all_done = |students: &[String], schools: &[String]| {
        assert!(has(students, page_index), "{students:?}");
        assert_eq!(has(students, "ix_students_list"), !postgres, "{students:?}");
        assert!(
            !has(students, "ix_students_school_name_dob"),
            "{students:?}"
        );
        assert!(has(schools, "ix_schools_list"), "{schools:?}");
    };
    all_done(
        &indexes(&app, "students").await,
        &indexes(&app, "schools").await,
    );
    // Undo it and every migration made after it.
    undo_migrations_from(&app, "m20261207_000011_list_order_indexes").await;
    let (students, schools) = (
        indexes(&app, "students").await,
        indexes(&app, "schools").await,
    );
    assert!(
        has(&students, "ix_students_school_name_dob"),
        "{students:?}"
    );
    assert!(!has(&students, "ix_students_list"), "{students:?}");
    assert!(!has(&students, "ix_students_page"), "{students:?}");
    assert!(has(&schools, "ix_schools_province"), "{schools:?}");
    assert!(!has(&schools, "ix_schools_list"), "{schools:?}");
    Migrator::up(app.db.conn.pool(), None).await.unwrap();
    all_done(
        &indexes(&app, "students").await,
        &indexes(&app, "schools").await,
    );
}
