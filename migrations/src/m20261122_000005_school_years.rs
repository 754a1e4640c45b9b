//! School years and the facts parent messages quote: the HI premium is 4.5% of the base salary
//! for 12 months, students pay 70% and the state budget at least 30% (Law on Health Insurance,
//! Decree 146/2018 and its amendments); the base salary is 2,340,000 VND/month from 1 July 2024
//! (Decree 73/2024). They change by decision, so they are data, not constants.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::prelude::Date;

fn day(y: i32, m: u32, d: u32) -> SimpleExpr {
    Date::from_ymd_opt(y, m, d).expect("valid date").into()
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SchoolYears::Table)
                    .col(
                        ColumnDef::new(SchoolYears::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SchoolYears::Code)
                            .string_len(16)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(SchoolYears::StartsOn).date().not_null())
                    .col(ColumnDef::new(SchoolYears::EndsOn).date().not_null())
                    .col(
                        ColumnDef::new(SchoolYears::BaseSalaryVnd)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchoolYears::PremiumRateBp)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchoolYears::StudentShareBp)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SchoolYears::Deadline).date().not_null())
                    .col(ColumnDef::new(SchoolYears::HowToPayVi).text().not_null())
                    .col(ColumnDef::new(SchoolYears::HowToPayEn).text().not_null())
                    .to_owned(),
            )
            .await?;
        let insert = Query::insert()
            .into_table(SchoolYears::Table)
            .columns([
                SchoolYears::Code,
                SchoolYears::StartsOn,
                SchoolYears::EndsOn,
                SchoolYears::BaseSalaryVnd,
                SchoolYears::PremiumRateBp,
                SchoolYears::StudentShareBp,
                SchoolYears::Deadline,
                SchoolYears::HowToPayVi,
                SchoolYears::HowToPayEn,
            ])
            .values_panic([
                "2025-2026".into(),
                day(2025, 9, 1),
                day(2026, 8, 31),
                2_340_000i64.into(),
                450.into(),
                7000.into(),
                day(2025, 12, 31),
                "nộp tại trường, hoặc thanh toán trực tuyến trên ứng dụng VssID hay Cổng Dịch vụ công quốc gia".into(),
                "at the school, or online in the VssID app or on the National Public Service Portal".into(),
            ])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SchoolYears::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SchoolYears {
    Table,
    Id,
    Code,
    StartsOn,
    EndsOn,
    BaseSalaryVnd,
    PremiumRateBp,
    StudentShareBp,
    Deadline,
    HowToPayVi,
    HowToPayEn,
}
