//! Column and key helpers for migration files written from here on (earlier files keep their
//! own copies: a landed migration never changes).
use sea_orm_migration::prelude::*;

pub fn a(name: &str) -> Alias {
    Alias::new(name)
}

/// `id BIGINT` primary key, auto-increment.
pub fn id() -> ColumnDef {
    ColumnDef::new(a("id"))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

pub fn big(name: &str, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(a(name));
    c.big_integer();
    nullable(c, null)
}

pub fn int(name: &str, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(a(name));
    c.integer();
    nullable(c, null)
}

pub fn text(name: &str, len: u32, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(a(name));
    c.string_len(len);
    nullable(c, null)
}

pub fn long_text(name: &str, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(a(name));
    c.text();
    nullable(c, null)
}

pub fn at(name: &str, null: bool) -> ColumnDef {
    let mut c = ColumnDef::new(a(name));
    c.timestamp_with_time_zone();
    nullable(c, null)
}

pub fn flag(name: &str, default: bool) -> ColumnDef {
    ColumnDef::new(a(name))
        .boolean()
        .not_null()
        .default(default)
        .to_owned()
}

fn nullable(mut c: ColumnDef, null: bool) -> ColumnDef {
    if null {
        c.null();
    } else {
        c.not_null();
    }
    c.to_owned()
}

/// A foreign key `fk_<table>_<col>` from `table.col` to `to.id`.
pub fn fk(
    table: &str,
    col: &str,
    to: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(a(table), a(col))
        .to(a(to), a("id"))
        .on_delete(on_delete)
        .to_owned()
}

/// Adds one column to a table.
pub async fn add_column(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &mut ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(a(table)).add_column(column).to_owned())
        .await
}

/// Drops one column (the undo of a migration that added it).
pub async fn drop_column(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(a(table))
                .drop_column(a(column))
                .to_owned(),
        )
        .await
}
