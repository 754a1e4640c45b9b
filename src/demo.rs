//! Demo data: a few communes in each of the 34 provinces, ~300 schools with plausible
//! Vietnamese names, and one user per role. Names and numbers are synthetic.
use chrono::Utc;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};

use crate::auth::actor::Actor;
use crate::auth::entity::user;
use crate::auth::secrets::random_token;
use crate::auth::users::{self, UserDraft};
use crate::db::Db;
use crate::fields::{fold, NewPassword};
use crate::org::entity::{commune, province, school};
use crate::org::level::SchoolLevel;
use crate::org::service::search_key;

pub const DEMO_DATABASE_FILE: &str = "data/demo.db";
pub const DEMO_DATABASE_URL: &str = "sqlite://data/demo.db";

/// Removes a SQLite database and its WAL files, for a fresh start.
pub fn remove_sqlite_files(path: &str) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{path}{suffix}");
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("cannot remove {p}: {e}")),
        }
    }
    Ok(())
}

pub struct DemoAccount {
    pub role: &'static str,
    pub email: String,
    pub password: String,
}

const COMMUNE_NAMES: &[&str] = &[
    "An Phú",
    "Bình Minh",
    "Tân Lập",
    "Hòa Bình",
    "Phú Lộc",
    "Thạnh Mỹ",
    "Long Hưng",
    "Đông Hòa",
    "Tây Sơn",
    "Hưng Đạo",
    "Quang Trung",
    "Trần Phú",
    "Phước Hải",
    "Vĩnh Thạnh",
    "Cẩm Thành",
    "Tân Hiệp",
    "Mỹ Xuyên",
    "Kim Sơn",
    "Yên Bình",
    "Thuận An",
    "Gia Phước",
    "Ngọc Lâm",
    "Phú Xuân",
    "Đức Hòa",
    "Tiên Du",
    "Xuân Lộc",
    "Thanh Xuân",
    "Hồng Hà",
    "Nghĩa Đô",
    "Bến Thành",
    "Hòa Khánh",
    "Tân Định",
    "Lạc Long Quân",
    "Định Công",
    "Mai Dịch",
    "Phú Thượng",
    "Long Biên",
    "Cát Linh",
];
const PEOPLE: &[&str] = &[
    "Lê Quý Đôn",
    "Nguyễn Du",
    "Chu Văn An",
    "Lương Thế Vinh",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Lý Tự Trọng",
    "Phan Bội Châu",
    "Nguyễn Huệ",
    "Lê Hồng Phong",
    "Nguyễn Thị Minh Khai",
    "Phan Châu Trinh",
    "Võ Thị Sáu",
    "Kim Đồng",
    "Nguyễn Văn Trỗi",
    "Lê Văn Tám",
    "Hai Bà Trưng",
    "Ngô Quyền",
    "Đinh Tiên Hoàng",
    "Lý Thường Kiệt",
    "Tô Hiến Thành",
    "Nguyễn Bỉnh Khiêm",
];
const FLOWERS: &[&str] = &[
    "Hoa Sen",
    "Hoa Mai",
    "Sơn Ca",
    "Họa Mi",
    "Hướng Dương",
    "Tuổi Thơ",
    "Hoa Hồng",
    "Ánh Dương",
];

fn school_name(rng: &mut StdRng, level: SchoolLevel, commune: &str, province: &str) -> String {
    let person = *PEOPLE.choose(rng).expect("non-empty");
    match level {
        SchoolLevel::Preschool => {
            format!("Trường Mầm non {}", FLOWERS.choose(rng).expect("non-empty"))
        }
        SchoolLevel::Primary => {
            if rng.gen_bool(0.5) {
                format!("Trường Tiểu học {commune}")
            } else {
                format!("Trường Tiểu học {person}")
            }
        }
        SchoolLevel::LowerSecondary => format!("Trường THCS {person}"),
        SchoolLevel::UpperSecondary => format!("Trường THPT {person}"),
        SchoolLevel::ContinuingEducation => format!("Trung tâm GDNN-GDTX {commune}"),
        SchoolLevel::Vocational => format!("Trường Trung cấp Nghề {commune}"),
        SchoolLevel::College => format!("Trường Cao đẳng Y tế {province}"),
        SchoolLevel::University => format!("Trường Đại học {province}"),
    }
}

fn enrolled(rng: &mut StdRng, level: SchoolLevel) -> i32 {
    let (lo, hi) = match level {
        SchoolLevel::Preschool => (150, 450),
        SchoolLevel::Primary => (400, 1300),
        SchoolLevel::LowerSecondary => (400, 1500),
        SchoolLevel::UpperSecondary => (600, 2000),
        SchoolLevel::ContinuingEducation => (150, 600),
        SchoolLevel::Vocational => (300, 1500),
        SchoolLevel::College => (1500, 6000),
        SchoolLevel::University => (5000, 25000),
    };
    rng.gen_range(lo..=hi)
}

fn abbrev(level: SchoolLevel) -> &'static str {
    match level {
        SchoolLevel::Preschool => "MN",
        SchoolLevel::Primary => "TH",
        SchoolLevel::LowerSecondary => "THCS",
        SchoolLevel::UpperSecondary => "THPT",
        SchoolLevel::ContinuingEducation => "GDTX",
        SchoolLevel::Vocational => "TC",
        SchoolLevel::College => "CD",
        SchoolLevel::University => "DH",
    }
}

/// Fills an empty database; on a database that already has users it only reports.
pub async fn seed(db: &Db, settings: &crate::config::Settings) -> anyhow::Result<Vec<DemoAccount>> {
    if user::Entity::find().count(&db.conn).await? > 0 {
        println!("  (the database already has users: demo data not added again)");
        return Ok(Vec::new());
    }
    let mut rng = StdRng::seed_from_u64(2025);
    let provinces = province::Entity::find()
        .order_by_asc(province::Column::Code)
        .all(&db.conn)
        .await?;
    let now = Utc::now();
    let tx = db.begin_write().await?;
    let mut school_rows = Vec::new();
    for p in &provinces {
        let mut names: Vec<&str> = COMMUNE_NAMES.to_vec();
        names.shuffle(&mut rng);
        let n_communes = rng.gen_range(3..=5);
        let mut communes = Vec::new();
        for (i, base) in names.iter().take(n_communes).enumerate() {
            let name = format!(
                "{} {base}",
                if rng.gen_bool(0.5) {
                    "Phường"
                } else {
                    "Xã"
                }
            );
            let c = commune::ActiveModel {
                province_id: Set(p.id),
                code: Set(format!("{}{:03}", p.code, i + 1)),
                search_key: Set(fold(&name)),
                name: Set(name),
                ..Default::default()
            };
            let inserted = commune::Entity::insert(c).exec(&*tx).await?;
            communes.push((inserted.last_insert_id, base.to_string()));
        }
        let n_schools = if p.kind == "city" {
            rng.gen_range(11..=14)
        } else {
            rng.gen_range(7..=9)
        };
        for i in 0..n_schools {
            let level = match i {
                0..=1 => SchoolLevel::Preschool,
                2..=3 => SchoolLevel::Primary,
                4..=5 => SchoolLevel::LowerSecondary,
                6 => SchoolLevel::UpperSecondary,
                7 => SchoolLevel::ContinuingEducation,
                8 => SchoolLevel::Vocational,
                9 => SchoolLevel::College,
                10 => SchoolLevel::University,
                _ => SchoolLevel::UpperSecondary,
            };
            let (commune_id, commune_name) = communes.choose(&mut rng).expect("communes").clone();
            let name = school_name(&mut rng, level, &commune_name, &p.name);
            let code = format!("{}{}{:03}", p.code, abbrev(level), i + 1);
            school_rows.push(school::ActiveModel {
                search_key: Set(search_key(&code, &name)),
                code: Set(code),
                name: Set(name),
                level: Set(level.code().to_string()),
                province_id: Set(p.id),
                commune_id: Set(Some(commune_id)),
                enrolled_students: Set(enrolled(&mut rng, level)),
                address: Set(Some(format!("{commune_name}, {}", p.name))),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
        }
    }
    for chunk in school_rows.chunks(200) {
        school::Entity::insert_many(chunk.to_vec())
            .exec(&*tx)
            .await?;
    }
    tx.commit().await?;

    let hanoi_schools: Vec<String> = school::Entity::find()
        .filter(school::Column::Code.starts_with("01"))
        .order_by_asc(school::Column::Code)
        .all(&db.conn)
        .await?
        .into_iter()
        .take(3)
        .map(|s| s.code)
        .collect();
    let accounts = [
        (
            "admin",
            "admin@demo.hi-outreach.vn",
            "Quản trị viên",
            None,
            vec![],
        ),
        (
            "staff",
            "truyenthong@demo.hi-outreach.vn",
            "Nguyễn Thị Hoa",
            None,
            vec![],
        ),
        (
            "staff",
            "hanoi@demo.hi-outreach.vn",
            "Trần Văn Minh",
            Some("01".to_string()),
            vec![],
        ),
        (
            "liaison",
            "lienlac@demo.hi-outreach.vn",
            "Phạm Thu Trang",
            None,
            hanoi_schools,
        ),
    ];
    let mut out = Vec::new();
    for (role, email, name, province_code, school_codes) in accounts {
        let password = random_token()[..16].to_string();
        let draft = UserDraft {
            email: email.into(),
            display_name: name.into(),
            role: role.into(),
            province_code,
            school_codes,
            language: Some("vi".into()),
            active: true,
        };
        let input = users::validate(&db.conn, &draft).await?;
        let pw = NewPassword::parse(&password).map_err(|m| anyhow::anyhow!("{}", m.key))?;
        users::create(db, &Actor::cli(), input, pw).await?;
        out.push(DemoAccount {
            role,
            email: email.into(),
            password,
        });
    }
    let campaign = seed_campaign(db).await?;
    seed_enrollment(db, campaign, &mut rng).await?;
    crate::demo_outreach::seed_families(db, &mut rng).await?;
    crate::demo_outreach::seed_outreach(db, settings).await?;
    Ok(out)
}

/// One active 2025-2026 campaign: activities on every channel (some done, some due in the next
/// days), consultation sessions at the demo liaison's schools (held and logged with questions,
/// and upcoming), media outlets and pieces.
async fn seed_campaign(db: &Db) -> anyhow::Result<i64> {
    use crate::campaigns::activities::{self, ActivityDraft};
    use crate::campaigns::kinds::Channel;
    use crate::campaigns::service::{self as campaigns, CampaignDraft};
    use crate::consultations::service::{
        self as sessions, QuestionInput, SessionDraft, SessionLog, TaskInput,
    };
    use crate::media::service::{self as media, OutletDraft, PieceDraft};
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let cli = Actor::cli();
    let err = |e: crate::error::AppError| anyhow::anyhow!("demo campaign: {e:?}");
    let c = campaigns::create_campaign(
        db,
        &cli,
        &CampaignDraft {
            name: "Truyền thông BHYT học sinh, sinh viên năm học 2025-2026".into(),
            school_year: "2025-2026".into(),
            target_coverage: Some("100".into()),
            scope: "national".into(),
            starts_on: "2025-09-01".into(),
            ends_on: "2026-06-30".into(),
            description: "Hướng tới 100% học sinh, sinh viên tham gia BHYT: tư vấn tại trường, nhắc phụ huynh qua Zalo và SMS, báo chí, loa truyền thanh cơ sở, VssID.".into(),
            topics: vec!["meaning".into(), "benefits".into(), "mandatory".into(), "premium".into(), "registration".into(), "hardship".into()],
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    campaigns::change_status(db, &cli, c.id, "active")
        .await
        .map_err(err)?;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let day = |offset: i64| (today + chrono::Duration::days(offset)).to_string();
    let titles = [
        (
            Channel::QaSession,
            "Đợt tư vấn BHYT tại các trường THPT Hà Nội",
            -60,
            "done",
        ),
        (
            Channel::ParentWave,
            "Nhắc phụ huynh học sinh chưa có thẻ BHYT",
            -20,
            "done",
        ),
        (
            Channel::Newspaper,
            "Bài viết: Vì sao học sinh cần có thẻ BHYT",
            -30,
            "done",
        ),
        (
            Channel::Radio,
            "Tọa đàm trên sóng phát thanh về quyền lợi BHYT",
            3,
            "planned",
        ),
        (
            Channel::Tv,
            "Phóng sự truyền hình: một ngày ở phòng y tế trường học",
            10,
            "planned",
        ),
        (
            Channel::Loudspeaker,
            "Phát loa truyền thanh xã, phường về hạn nộp BHYT",
            1,
            "planned",
        ),
        (
            Channel::OnlineNews,
            "Tin điện tử: mức đóng BHYT học sinh năm học mới",
            -5,
            "done",
        ),
        (
            Channel::Portal,
            "Hỏi đáp BHYT học sinh trên Cổng thông tin BHXH",
            -12,
            "done",
        ),
        (
            Channel::Social,
            "Video ngắn trên Fanpage: đóng BHYT qua VssID",
            5,
            "planned",
        ),
        (
            Channel::AppNotification,
            "Thông báo VssID: kiểm tra thẻ BHYT của con",
            7,
            "planned",
        ),
        (
            Channel::Poster,
            "Áp phích tại bảng tin các trường",
            -40,
            "done",
        ),
        (
            Channel::Banner,
            "Băng rôn trước cổng trường đầu năm học",
            -70,
            "done",
        ),
        (
            Channel::Leaflet,
            "Tờ rơi hỏi đáp BHYT phát trong họp phụ huynh",
            12,
            "planned",
        ),
    ];
    for (i, (channel, title, offset, status)) in titles.into_iter().enumerate() {
        activities::create_activity(
            db,
            &cli,
            &ActivityDraft {
                campaign_id: Some(c.id.to_string()),
                channel: channel.code().into(),
                title: title.into(),
                date: day(offset),
                start_time: format!("{:02}:00", 8 + (i % 10)),
                status: status.into(),
                topics: vec!["benefits".into(), "registration".into()],
                province_code: if i % 3 == 0 {
                    "01".into()
                } else {
                    String::new()
                },
                cost_vnd: Some(((i as i64 % 5) + 1).saturating_mul(1_500_000).to_string()),
                ..Default::default()
            },
            tz,
        )
        .await
        .map_err(err)?;
    }
    let liaison = user::Entity::find()
        .filter(user::Column::Email.eq("lienlac@demo.hi-outreach.vn"))
        .one(&db.conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo liaison missing"))?;
    let schools = school::Entity::find()
        .filter(school::Column::Code.starts_with("01"))
        .order_by_asc(school::Column::Code)
        .all(&db.conn)
        .await?;
    let asked = [
        (
            "premium",
            "Năm nay mỗi học sinh đóng bao nhiêu tiền BHYT?",
            "884.520 đồng một năm; Nhà nước hỗ trợ 30%.",
            false,
        ),
        (
            "registration",
            "Có thể đóng qua ứng dụng VssID không?",
            "Có, phụ huynh thanh toán trực tuyến trên VssID hoặc Cổng Dịch vụ công.",
            false,
        ),
        (
            "hardship",
            "Gia đình cận nghèo có được hỗ trợ thêm không?",
            "Được hỗ trợ theo chính sách của tỉnh; trường sẽ gửi danh sách để xác minh.",
            true,
        ),
        (
            "card_use",
            "Thẻ BHYT dùng khám ở bệnh viện nào?",
            "Tại cơ sở khám chữa bệnh ban đầu ghi trên thẻ và tuyến trên khi có giấy chuyển.",
            false,
        ),
    ];
    for (i, s) in schools.iter().take(3).enumerate() {
        for (offset, logged) in [(-45 - 10 * i as i64, true), (4 + 3 * i as i64, false)] {
            let created = sessions::create_session(
                db,
                &cli,
                &SessionDraft {
                    campaign_id: Some(c.id.to_string()),
                    school_id: Some(s.id.to_string()),
                    date: day(offset),
                    start_time: "14:00".into(),
                    end_time: "15:30".into(),
                    format: if i == 1 {
                        "parent_meeting".into()
                    } else {
                        "at_school".into()
                    },
                    liaison_ids: vec![liaison.id.to_string()],
                    expected_audience: Some("200".into()),
                    location: "Hội trường nhà trường".into(),
                    ..Default::default()
                },
                tz,
            )
            .await
            .map_err(err)?;
            if logged {
                sessions::log_session(
                    db,
                    &cli,
                    created.id,
                    &SessionLog {
                        status: "held".into(),
                        attendance_students: Some((180 + 40 * i).to_string()),
                        attendance_parents: Some((25 + 10 * i).to_string()),
                        attendance_teachers: Some("9".into()),
                        registered_on_spot: Some((12 + 5 * i).to_string()),
                        materials: "150 tờ rơi hỏi đáp BHYT, 2 áp phích".into(),
                        questions: asked
                            .iter()
                            .skip(i)
                            .take(3)
                            .map(|(t, q, a, f)| QuestionInput {
                                topic: t.to_string(),
                                question: q.to_string(),
                                answer: a.to_string(),
                                needs_follow_up: *f,
                            })
                            .collect(),
                        tasks: vec![TaskInput {
                            description: "Gửi danh sách học sinh chưa có thẻ cho BHXH".into(),
                            due_on: day(offset + 14),
                            done: false,
                        }],
                        notes: "Phụ huynh quan tâm nhiều đến cách đóng trên VssID.".into(),
                        ..Default::default()
                    },
                    tz,
                )
                .await
                .map_err(err)?;
            }
        }
    }
    let outlets = [
        ("Báo Nhân Dân", "newspaper", "", 800_000),
        ("Đài Tiếng nói Việt Nam (VOV)", "radio", "", 2_000_000),
        ("Báo Hà Nội Mới", "online", "01", 300_000),
        (
            "Loa truyền thanh phường Hoàn Kiếm",
            "loudspeaker",
            "01",
            12_000,
        ),
    ];
    let mut ids = Vec::new();
    for (name, kind, province, reach) in outlets {
        let o = media::save_outlet(
            db,
            &cli,
            None,
            &OutletDraft {
                name: name.into(),
                kind: kind.into(),
                province_code: province.into(),
                estimated_reach: Some(reach.to_string()),
            },
        )
        .await
        .map_err(err)?;
        ids.push(o.id);
    }
    let pieces = [
        (
            "Học sinh, sinh viên được hưởng gì khi tham gia BHYT?",
            0,
            -30,
            "article",
            "benefits",
        ),
        (
            "Tọa đàm: BHYT học sinh – trách nhiệm của gia đình và nhà trường",
            1,
            -18,
            "broadcast",
            "mandatory",
        ),
        (
            "Hà Nội phấn đấu 100% học sinh có thẻ BHYT",
            2,
            -9,
            "article",
            "meaning",
        ),
        (
            "Thông báo hạn nộp BHYT học sinh năm học 2025-2026",
            3,
            -3,
            "announcement",
            "registration",
        ),
    ];
    for (title, outlet, offset, kind, topic) in pieces {
        media::save_piece(
            db,
            &cli,
            None,
            &PieceDraft {
                title: title.into(),
                outlet_id: Some(ids[outlet].to_string()),
                published_on: day(offset),
                kind: kind.into(),
                topics: vec![topic.into()],
                campaign_id: Some(c.id.to_string()),
                ..Default::default()
            },
            tz,
        )
        .await
        .map_err(err)?;
    }
    Ok(c.id)
}

/// A school year of monthly enrollment snapshots (September 2025 to May 2026) for every demo
/// school. Coverage drifts up everywhere; in about a third of the schools of ten provinces a
/// consultation session is held (in October, November, December or January) and coverage
/// rises faster from the month after it — a staggered design the uplift and
/// difference-in-differences estimates can find.
async fn seed_enrollment(db: &Db, campaign: i64, rng: &mut StdRng) -> anyhow::Result<()> {
    use crate::consultations::service::{self as sessions, SessionDraft, SessionLog};
    use crate::enrollment::entity::snapshot;
    use chrono::{Datelike, NaiveDate};
    let tz = chrono_tz::Asia::Ho_Chi_Minh;
    let cli = Actor::cli();
    let staff = user::Entity::find()
        .filter(user::Column::Email.eq("truyenthong@demo.hi-outreach.vn"))
        .one(&db.conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo staff missing"))?;
    let schools = school::Entity::find()
        .order_by_asc(school::Column::Id)
        .all(&db.conn)
        .await?;
    let provinces = province::Entity::find()
        .order_by_asc(province::Column::Code)
        .all(&db.conn)
        .await?;
    let treated_provinces: Vec<i64> = provinces.iter().step_by(3).take(10).map(|p| p.id).collect();
    let month_end = |y: i32, m: u32| {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        NaiveDate::from_ymd_opt(ny, nm, 1).expect("valid") - chrono::Duration::days(1)
    };
    // Month 0 = September 2025 … month 8 = May 2026.
    let months: Vec<NaiveDate> = (0..9)
        .map(|k| {
            let m = 9 + k;
            if m <= 12 {
                month_end(2025, m)
            } else {
                month_end(2026, m - 12)
            }
        })
        .collect();
    let now = Utc::now();
    let mut rows = Vec::new();
    for (n, s) in schools.iter().enumerate() {
        let treated_month =
            (treated_provinces.contains(&s.province_id) && n % 3 == 0).then(|| 1 + (n / 3) % 4);
        if let Some(m) = treated_month {
            let d = months[m];
            let day = NaiveDate::from_ymd_opt(d.year(), d.month(), 10).expect("valid");
            let created = sessions::create_session(
                db,
                &cli,
                &SessionDraft {
                    campaign_id: Some(campaign.to_string()),
                    school_id: Some(s.id.to_string()),
                    date: day.to_string(),
                    start_time: "08:00".into(),
                    end_time: "09:30".into(),
                    liaison_ids: vec![staff.id.to_string()],
                    expected_audience: Some((s.enrolled_students / 2).to_string()),
                    ..Default::default()
                },
                tz,
            )
            .await
            .map_err(|e| anyhow::anyhow!("demo session: {e:?}"))?;
            sessions::log_session(
                db,
                &cli,
                created.id,
                &SessionLog {
                    status: "held".into(),
                    attendance_students: Some((s.enrolled_students / 3).to_string()),
                    attendance_parents: Some((s.enrolled_students / 12).to_string()),
                    attendance_teachers: Some("6".into()),
                    registered_on_spot: Some((s.enrolled_students / 40).to_string()),
                    ..Default::default()
                },
                tz,
            )
            .await
            .map_err(|e| anyhow::anyhow!("demo session log: {e:?}"))?;
        }
        let enrolled = s.enrolled_students.max(1);
        let mut coverage: f64 = rng.gen_range(0.55..0.78);
        for (k, day) in months.iter().enumerate() {
            coverage += rng.gen_range(0.005..0.02);
            if let Some(m) = treated_month {
                if k == m + 1 {
                    coverage += 0.05;
                } else if k > m + 1 {
                    coverage += 0.012;
                }
            }
            coverage = coverage.min(0.995);
            let insured = ((f64::from(enrolled) * coverage).round() as i32).min(enrolled);
            let state_funded = (f64::from(insured) * 0.12).round() as i32;
            rows.push(snapshot::ActiveModel {
                school_id: Set(s.id),
                taken_on: Set(*day),
                enrolled: Set(enrolled),
                insured: Set(insured),
                state_funded: Set(state_funded),
                source: Set("demo".into()),
                created_at: Set(now),
                updated_at: Set(now),
                updated_by: Set(None),
                ..Default::default()
            });
        }
    }
    let tx = db.begin_write().await?;
    for chunk in rows.chunks(500) {
        snapshot::Entity::insert_many(chunk.to_vec())
            .exec(&*tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
