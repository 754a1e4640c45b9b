//! Goal-aware sending: once a child is insured, parent messages about that child that are still
//! waiting are not sent. A message about several siblings waits while any of them still needs
//! cover; it is cancelled when none does.
use std::collections::HashSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::contacts::entity::student;
use crate::contacts::fields::HiStatus;
use crate::delivery::entity::{message, message_student};
use crate::delivery::model::Status;
use crate::delivery::outbox;
use crate::error::AppResult;

/// Called in the transaction that changed these students' HI status. Answers the messages
/// cancelled.
pub async fn cancel_for_covered<C: ConnectionTrait>(
    conn: &C,
    student_ids: &[i64],
) -> AppResult<Vec<i64>> {
    if student_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut candidates: HashSet<i64> = HashSet::new();
    for chunk in student_ids.chunks(500) {
        let ids: Vec<i64> = message_student::Entity::find()
            .select_only()
            .column(message_student::Column::MessageId)
            .filter(message_student::Column::StudentId.is_in(chunk.to_vec()))
            .filter(
                message_student::Column::MessageId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(message::Column::Id)
                        .from(message::Entity)
                        .and_where(
                            message::Column::Status
                                .is_in([Status::Queued.code(), Status::Retrying.code()]),
                        )
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(conn)
            .await?;
        candidates.extend(ids);
    }
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<i64> = candidates.into_iter().collect();
    // Of those, the messages that still concern an uninsured child keep waiting.
    let mut still_needed: HashSet<i64> = HashSet::new();
    for chunk in candidates.chunks(500) {
        let ids: Vec<i64> = message_student::Entity::find()
            .select_only()
            .column(message_student::Column::MessageId)
            .filter(message_student::Column::MessageId.is_in(chunk.to_vec()))
            .filter(
                message_student::Column::StudentId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(student::Column::Id)
                        .from(student::Entity)
                        .and_where(student::Column::HiStatus.eq(HiStatus::Uninsured.code()))
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(conn)
            .await?;
        still_needed.extend(ids);
    }
    let done: Vec<i64> = candidates
        .into_iter()
        .filter(|id| !still_needed.contains(id))
        .collect();
    let mut cancelled = Vec::new();
    for chunk in done.chunks(500) {
        cancelled.extend(
            outbox::cancel_where(
                conn,
                sea_orm::Condition::all().add(message::Column::Id.is_in(chunk.to_vec())),
                "child insured",
            )
            .await?,
        );
    }
    Ok(cancelled)
}
