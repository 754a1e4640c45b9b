//! School years and the HI facts messages quote (premium, state support, deadline, how to pay).
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::error::AppResult;
use crate::web::format::number;
use crate::web::i18n::Lang;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "school_years")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub code: String,
        pub starts_on: Date,
        pub ends_on: Date,
        pub base_salary_vnd: i64,
        /// Premium as basis points of 12 months' base salary (450 = 4.5%).
        pub premium_rate_bp: i32,
        /// The student's share of the premium in basis points (7000 = 70%).
        pub student_share_bp: i32,
        pub deadline: Date,
        pub how_to_pay_vi: String,
        pub how_to_pay_en: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The money side of a school year, in whole VND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Premium {
    /// The full yearly premium.
    pub total: i64,
    /// What the family pays.
    pub student: i64,
    /// What the state budget adds.
    pub state: i64,
}

impl entity::Model {
    pub fn premium(&self) -> Premium {
        let total = self.base_salary_vnd * 12 * i64::from(self.premium_rate_bp) / 10_000;
        let student = total * i64::from(self.student_share_bp) / 10_000;
        Premium {
            total,
            student,
            state: total - student,
        }
    }

    pub fn how_to_pay(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.how_to_pay_vi,
            Lang::En => &self.how_to_pay_en,
        }
    }

    /// "884.520 đồng" / "884,520 VND".
    pub fn money(amount: i64, lang: Lang) -> String {
        match lang {
            Lang::Vi => format!("{} đồng", number(amount, lang)),
            Lang::En => format!("{} VND", number(amount, lang)),
        }
    }

    /// The state's share as a percentage, e.g. "30%".
    pub fn state_share_percent(&self) -> String {
        let bp = 10_000 - self.student_share_bp;
        if bp % 100 == 0 {
            format!("{}%", bp / 100)
        } else {
            format!("{:.2}%", f64::from(bp) / 100.0)
        }
    }
}

/// The school year containing `day`, or else the latest one.
/// Today in Vietnam (the day school years, deadlines and messages speak of).
pub fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .date_naive()
}

pub async fn current<C: ConnectionTrait>(
    conn: &C,
    day: NaiveDate,
) -> AppResult<Option<entity::Model>> {
    if let Some(y) = entity::Entity::find()
        .filter(entity::Column::StartsOn.lte(day))
        .filter(entity::Column::EndsOn.gte(day))
        .one(conn)
        .await?
    {
        return Ok(Some(y));
    }
    Ok(entity::Entity::find()
        .order_by_desc(entity::Column::StartsOn)
        .one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2025_2026_premium() {
        let y = entity::Model {
            id: 1,
            code: "2025-2026".into(),
            starts_on: NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
            ends_on: NaiveDate::from_ymd_opt(2026, 8, 31).unwrap(),
            base_salary_vnd: 2_340_000,
            premium_rate_bp: 450,
            student_share_bp: 7000,
            deadline: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
            how_to_pay_vi: String::new(),
            how_to_pay_en: String::new(),
        };
        // 4.5% × 2,340,000 × 12 = 1,263,600; the student's 70% is 884,520.
        assert_eq!(
            y.premium(),
            Premium {
                total: 1_263_600,
                student: 884_520,
                state: 379_080
            }
        );
        assert_eq!(entity::Model::money(884_520, Lang::Vi), "884.520 đồng");
        assert_eq!(y.state_share_percent(), "30%");
    }
}
