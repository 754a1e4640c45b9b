//! A synthetic country for load tests and benchmarks: communes in the 34 provinces, schools,
//! students with Vietnamese names, their parents (every fifth child a younger sibling of the one
//! before), a mix of consents and HI status, and each school's monthly enrollment figures for
//! the school year so far. Every table is filled by set-based `INSERT … SELECT` statements inside
//! the database, in slices so progress can be shown, all in one transaction: a failure leaves
//! the database as it was.
use chrono::{Datelike, NaiveDate};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};

use crate::db::Db;
use crate::fields::fold;

/// How big a country to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// 68 communes, 200 schools, 20,000 students: seconds, for trying things out.
    Small,
    /// One large province's worth spread over the country: 680 communes, 1,300 schools,
    /// 600,000 students.
    Province,
    /// The whole country: 3,321 communes, 45,000 schools, 20,000,000 students.
    National,
}

/// The numbers a scale stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub communes: i64,
    pub schools: i64,
    pub students: i64,
}

impl Scale {
    pub fn shape(self) -> Shape {
        match self {
            Scale::Small => Shape {
                communes: 68,
                schools: 200,
                students: 20_000,
            },
            Scale::Province => Shape {
                communes: 680,
                schools: 1_300,
                students: 600_000,
            },
            Scale::National => Shape {
                communes: 3_321,
                schools: 45_000,
                students: 20_000_000,
            },
        }
    }
}

impl Shape {
    /// Every fifth child is a younger sibling of the one before (same parent).
    pub fn guardians(&self) -> i64 {
        self.students - self.students / 5
    }
}

/// Family names, middle names and given names the generated people are named from (the most
/// common Vietnamese ones).
const FAMILY: [&str; 16] = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
];
const MIDDLE: [&str; 8] = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu", "Gia", "Hữu"];
const GIVEN: [&str; 24] = [
    "An", "Bình", "Chi", "Dũng", "Hà", "Hạnh", "Hải", "Hương", "Khánh", "Lan", "Linh", "Long",
    "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến",
];
const COMMUNE_KIND: [&str; 2] = ["Xã", "Phường"];
const SCHOOL_KIND: [(&str, &str, &str); 4] = [
    ("Trường Tiểu học", "primary", "5"),
    ("Trường THCS", "lower_secondary", "8"),
    ("Trường THPT", "upper_secondary", "11"),
    ("Trường Mầm non", "preschool", "MG"),
];

/// Rows inserted by one statement at most, so that progress shows.
const SLICE: i64 = 500_000;

/// What was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Made {
    pub communes: i64,
    pub schools: i64,
    pub students: i64,
    pub guardians: i64,
    pub consents: i64,
    pub snapshots: i64,
}

/// Fills an empty database (migrated, no schools yet) with a country of `scale`. `progress` is
/// told each step's name, rows done and rows in all.
pub async fn generate(
    db: &Db,
    scale: Scale,
    progress: &mut dyn FnMut(&str, i64, i64),
) -> anyhow::Result<Made> {
    let shape = scale.shape();
    let tx = db.begin_write().await?;
    let g = Gen {
        tx: &tx,
        backend: db.backend(),
    };
    let schools = g.count("schools").await?;
    if schools > 0 {
        anyhow::bail!(
            "the database already holds {schools} schools; generate fills an empty database"
        );
    }
    let provinces = g.count("provinces").await?;
    if provinces == 0 {
        anyhow::bail!("no provinces: run the migrations first");
    }
    let now = g.now();

    // Communes, spread over the provinces in turn.
    progress("communes", 0, shape.communes);
    let (kind, kind_f) = named(&COMMUNE_KIND, "s.i % 2");
    let (given, given_f) = named(&GIVEN, "s.i % 24");
    g.exec(&format!(
        "WITH p AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM provinces) \
         INSERT INTO communes (province_id, code, name, search_key) \
         SELECT p.id, 'G' || s.i, {kind} || ' ' || {given} || ' ' || s.i, \
                {kind_f} || ' ' || {given_f} || ' ' || s.i \
         FROM {series} JOIN p ON p.k = s.i % {provinces} ORDER BY s.i",
        series = g.series(1, shape.communes),
    ))
    .await?;
    progress("communes", shape.communes, shape.communes);

    // Schools, spread over the communes in turn, with their share of the students.
    let per_school = shape.students / shape.schools;
    progress("schools", 0, shape.schools);
    let kinds: Vec<&str> = SCHOOL_KIND.iter().map(|k| k.0).collect();
    let levels: Vec<&str> = SCHOOL_KIND.iter().map(|k| k.1).collect();
    let (kind, kind_f) = named(&kinds, "s.i % 4");
    let level = pick(&levels, "s.i % 4", false);
    let (family, family_f) = named(&FAMILY, "s.i % 16");
    let (given, given_f) = named(&GIVEN, "(s.i / 16) % 24");
    g.exec(&format!(
        "WITH c AS (SELECT id, province_id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM communes WHERE code LIKE 'G%') \
         INSERT INTO schools (code, name, level, province_id, commune_id, enrolled_students, address, search_key, created_at, updated_at) \
         SELECT 'GEN-' || s.i, {kind} || ' ' || {family} || ' ' || {given} || ' số ' || s.i, {level}, c.province_id, c.id, {per_school}, NULL, \
                {kind_f} || ' ' || {family_f} || ' ' || {given_f} || ' so ' || s.i, {now}, {now} \
         FROM {series} JOIN c ON c.k = s.i % {communes} ORDER BY s.i",
        series = g.series(1, shape.schools),
        communes = shape.communes,
    ))
    .await?;
    progress("schools", shape.schools, shape.schools);
    let first_school = g.scalar("SELECT MIN(id) FROM schools").await?;

    // Students: student i goes to school (i - 1) / per_school; about 70% insured, 10% funded by
    // the state, the rest not yet; each has one guardian (linked below).
    let students_before = g
        .scalar("SELECT COALESCE(MAX(id), 0) FROM students")
        .await?;
    let school = format!("(((s.i - 1) / {per_school}) % {})", shape.schools);
    let grades: Vec<&str> = SCHOOL_KIND.iter().map(|k| k.2).collect();
    // The school's number is its index + 1, and its kind that number % 4.
    let grade = pick(&grades, &format!("({school} + 1) % 4"), false);
    // Student i's parent is guardian i - i / 5 (below): children of one parent are twins, with
    // one birthday and their father's family name.
    let parent = "(s.i - s.i / 5)";
    let (family, family_f) = named(&FAMILY, &format!("{parent} % 16"));
    let (middle, middle_f) = named(&MIDDLE, "(s.i / 16) % 8");
    let (given, given_f) = named(&GIVEN, "(s.i / 128) % 24");
    // Born in the calendar year that puts them in their school's grade this school year (grade
    // 1 at six), on a day of that year that varies from family to family.
    let ages: Vec<String> = SCHOOL_KIND
        .iter()
        .map(|k| age_in_grade(k.2).to_string())
        .collect();
    let ages: Vec<&str> = ages.iter().map(String::as_str).collect();
    let age = pick(&ages, &format!("({school} + 1) % 4"), false);
    let born = g.day_of_year(
        &format!("{} - CAST({age} AS INTEGER)", school_year_start()),
        &format!("({parent} * 37) % 365"),
    );
    for (from, to) in slices(shape.students) {
        g.exec(&format!(
            "INSERT INTO students (school_id, si_number, full_name, search_key, date_of_birth, grade, class_name, hi_status, card_valid_until, guardian_count, created_at, updated_at) \
             SELECT {first_school} + {school}, NULL, \
                    {family} || ' ' || {middle} || ' ' || {given}, {family_f} || ' ' || {middle_f} || ' ' || {given_f}, \
                    {born}, {grade}, {grade} || 'A', \
                    CASE WHEN s.i % 10 < 7 THEN 'insured' WHEN s.i % 10 = 7 THEN 'state_funded' ELSE 'uninsured' END, \
                    NULL, 1, {now}, {now} \
             FROM {series} ORDER BY s.i",
            series = g.series(from, to),
        ))
        .await?;
        progress("students", to, shape.students);
    }
    // The ids the students got (not MAX + 1: a sequence may have moved past the highest id, by
    // rows deleted or by an earlier run rolled back).
    let first_student = g
        .scalar(&format!(
            "SELECT MIN(id) FROM students WHERE id > {students_before}"
        ))
        .await?;

    // Parents: guardian j of student i = i - i / 5, so students 5k - 1 and 5k share one.
    let guardians = shape.guardians();
    let guardians_before = g
        .scalar("SELECT COALESCE(MAX(id), 0) FROM guardians")
        .await?;
    let t = g.truth();
    let f = g.falsity();
    // A father's family name is his children's; a mother keeps her own.
    let (family, family_f) = named(
        &FAMILY,
        "CASE WHEN s.i % 2 = 0 THEN s.i % 16 ELSE (s.i + 7) % 16 END",
    );
    let (given, given_f) = named(&GIVEN, "(s.i / 3) % 24");
    for (from, to) in slices(guardians) {
        g.exec(&format!(
            "INSERT INTO guardians (full_name, search_key, relationship, phone, email, zalo, app_ref, language, channel_order, opted_out_at, erased_at, created_at, updated_at) \
             SELECT {family} || ' ' || CASE WHEN s.i % 2 = 0 THEN 'Văn' ELSE 'Thị' END || ' ' || {given}, \
                    {family_f} || ' ' || CASE WHEN s.i % 2 = 0 THEN 'van' ELSE 'thi' END || ' ' || {given_f}, \
                    CASE WHEN s.i % 2 = 0 THEN 'father' ELSE 'mother' END, \
                    '+849' || (10000000 + s.i), \
                    CASE WHEN s.i % 10 < 3 THEN 'phuhuynh' || s.i || '@example.vn' END, \
                    CASE WHEN s.i % 10 < 7 THEN {t} ELSE {f} END, \
                    CASE WHEN s.i % 5 < 2 THEN 'VSSID-' || s.i END, \
                    CASE WHEN s.i % 50 = 0 THEN 'en' ELSE 'vi' END, 'zalo,sms,email,push', \
                    CASE WHEN s.i % 100 = 0 THEN {now} END, NULL, {now}, {now} \
             FROM {series} ORDER BY s.i",
            series = g.series(from, to),
        ))
        .await?;
        progress("parents", to, guardians);
    }
    let first_guardian = g
        .scalar(&format!(
            "SELECT MIN(id) FROM guardians WHERE id > {guardians_before}"
        ))
        .await?;
    for (from, to) in slices(shape.students) {
        g.exec(&format!(
            "INSERT INTO student_guardians (student_id, guardian_id) \
             SELECT {first_student} + s.i - 1, {first_guardian} + s.i - s.i / 5 - 1 FROM {series} ORDER BY s.i",
            series = g.series(from, to),
        ))
        .await?;
        progress("children and parents", to, shape.students);
    }

    // Consent: most Zalo users to Zalo, most parents to SMS, those with an e-mail address or an
    // app account to those; a few refusals.
    let label = "generated";
    let mut consents = 0;
    for (channel, condition) in [
        ("zalo", "zalo = {t} AND id % 10 <> 9"),
        ("sms", "id % 10 < 6"),
        ("email", "email IS NOT NULL"),
        ("push", "app_ref IS NOT NULL"),
    ] {
        let condition = condition.replace("{t}", &t);
        let n = g
            .exec(&format!(
                "INSERT INTO consents (guardian_id, channel, purpose, granted, source, evidence, recorded_at, recorded_by, recorded_by_label) \
                 SELECT id, '{channel}', 'hi_reminders', CASE WHEN id % 20 = 0 THEN {f} ELSE {t} END, 'import', NULL, {now}, NULL, '{label}' \
                 FROM guardians WHERE id >= {first_guardian} AND {condition}"
            ))
            .await?;
        consents += n as i64;
        progress("consent", consents, consents);
    }

    // Each school's figures on the first of every month of the school year so far: coverage
    // rising from about 55% to what the students' status says.
    let months = months_so_far();
    let n_months = months.len() as i64;
    let mut snapshots = 0;
    for (k, day) in months.iter().enumerate() {
        let share = 55 + (k as i64 + 1) * (70 - 55) / n_months.max(1);
        g.exec(&format!(
            "INSERT INTO enrollment_snapshots (school_id, taken_on, enrolled, insured, state_funded, source, created_at, updated_at, updated_by) \
             SELECT id, '{day}', enrolled_students, enrolled_students * ({share} + id % 11 - 5) / 100, enrolled_students / 10, 'generated', {now}, {now}, NULL \
             FROM schools WHERE code LIKE 'GEN-%'"
        ))
        .await?;
        snapshots += shape.schools;
        progress("enrollment figures", snapshots, shape.schools * n_months);
    }
    tx.commit().await?;
    // Fresh statistics, so that the planner knows the tables are no longer empty; on
    // PostgreSQL also the visibility map (VACUUM), as after any bulk load: until it is set, an
    // index-only scan (a page of the student list) reads the table too.
    let tidy = match db.backend() {
        DbBackend::Postgres => "VACUUM (ANALYZE)",
        _ => "ANALYZE",
    };
    db.conn
        .execute(Statement::from_string(db.backend(), tidy.to_string()))
        .await?;
    Ok(Made {
        communes: shape.communes,
        schools: shape.schools,
        students: shape.students,
        guardians,
        consents,
        snapshots,
    })
}

/// `[from, to]` ranges of at most [`SLICE`] numbers covering 1..=n.
fn slices(n: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut from = 1;
    while from <= n {
        let to = (from + SLICE - 1).min(n);
        out.push((from, to));
        from = to + 1;
    }
    out
}

/// The age a pupil turns in the calendar year a school year starts, in a grade ("MG": the last
/// year of kindergarten); grade 1 is the year of the sixth birthday.
fn age_in_grade(grade: &str) -> i32 {
    grade.parse::<i32>().map_or(5, |g| g + 5)
}

/// The calendar year the current school year (from September) started in.
fn school_year_start() -> i32 {
    let today = crate::school_year::today();
    if today.month() >= 9 {
        today.year()
    } else {
        today.year() - 1
    }
}

/// The first day of each month of the current school year (from September) up to today.
fn months_so_far() -> Vec<NaiveDate> {
    let today = crate::school_year::today();
    let start_year = school_year_start();
    let mut out = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(start_year, 9, 1).expect("a date");
    while day <= today {
        out.push(day);
        day = day
            .checked_add_months(chrono::Months::new(1))
            .expect("a date");
    }
    out
}

/// A name at an index and its folded form (for search keys), as two [`pick`] expressions.
fn named(values: &[&str], index: &str) -> (String, String) {
    (pick(values, index, false), pick(values, index, true))
}

/// `CASE <index> WHEN 0 THEN '<values[0]>' … END`: the value at an index, or its folded form
/// (for search keys). A plain expression, so that each statement reads only its series.
fn pick(values: &[&str], index: &str, folded: bool) -> String {
    let arms: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let v = if folded { fold(v) } else { v.to_string() };
            format!("WHEN {k} THEN '{v}'")
        })
        .collect();
    format!("CASE {index} {} END", arms.join(" "))
}

struct Gen<'a> {
    tx: &'a DatabaseTransaction,
    backend: DbBackend,
}

impl Gen<'_> {
    fn pg(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// The numbers from..=to as a table `s(i)`.
    fn series(&self, from: i64, to: i64) -> String {
        if self.pg() {
            format!("generate_series({from}::bigint, {to}::bigint) AS s(i)")
        } else {
            format!(
                "(WITH RECURSIVE c(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM c WHERE i < {to}) SELECT i FROM c) AS s"
            )
        }
    }

    /// The current time as the database stores it.
    fn now(&self) -> String {
        if self.pg() {
            "now()".into()
        } else {
            "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')".into()
        }
    }

    fn truth(&self) -> String {
        if self.pg() { "TRUE" } else { "1" }.into()
    }

    /// The date `day` days (0–364) after 1 January of `year`, both SQL integer expressions.
    fn day_of_year(&self, year: &str, day: &str) -> String {
        if self.pg() {
            format!("(make_date(CAST({year} AS INTEGER), 1, 1) + CAST({day} AS INTEGER))")
        } else {
            format!("date(printf('%04d-01-01', {year}), '+' || ({day}) || ' days')")
        }
    }

    fn falsity(&self) -> String {
        if self.pg() { "FALSE" } else { "0" }.into()
    }

    async fn exec(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(self
            .tx
            .execute(Statement::from_string(self.backend, sql.to_string()))
            .await?
            .rows_affected())
    }

    async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        Ok(self
            .tx
            .query_one(Statement::from_string(self.backend, sql.to_string()))
            .await?
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0))
    }

    async fn count(&self, table: &str) -> anyhow::Result<i64> {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_number_once() {
        assert_eq!(slices(3), [(1, 3)]);
        assert_eq!(slices(SLICE + 1), [(1, SLICE), (SLICE + 1, SLICE + 1)]);
        assert!(slices(0).is_empty());
    }

    #[test]
    fn siblings_share_a_parent() {
        let parent = |i: i64| i - i / 5;
        assert_eq!(parent(4), parent(5));
        assert_eq!(parent(9), parent(10));
        assert_ne!(parent(5), parent(6));
        let shape = Scale::Small.shape();
        assert_eq!(parent(shape.students), shape.guardians());
    }
}
