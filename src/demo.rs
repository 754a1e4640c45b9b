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
pub async fn seed(db: &Db) -> anyhow::Result<Vec<DemoAccount>> {
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
    Ok(out)
}
