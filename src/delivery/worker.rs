//! The worker: one loop per channel claims due messages, checks consent again (it may have been
//! withdrawn since the message was queued), sends through the channel's provider within its rate
//! limit and daily quota, and records each outcome — sent, retry with backoff, dead (then the
//! fallback channel, if the person is not on this one), suppressed, or deferred (quiet hours,
//! quota). On shutdown it stops claiming, lets sends in flight finish, starts no other send of
//! the batch, and gives back what it still holds without counting an attempt.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use futures_util::stream::{self, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::sync::watch;

use super::channels::{self, Kind, Outbound, Sender};
use super::compose::{Composer, Late};
use super::entity::{message, provider};
use super::metrics::Metrics;
use super::model::{ErrorClass, Failure, QuietPolicy};
use super::outbox::{self, FallbackStep, NewMessage, Outcome};
use crate::config::Settings;
use crate::contacts::entity::guardian;
use crate::contacts::fields::Channel;
use crate::contacts::{service as contacts, unsubscribe};
use crate::db::Db;
use crate::error::AppResult;
use crate::messaging::render::Rendered;
use crate::web::i18n::{I18n, Lang};

/// A provider ready to send: its row, its sender and its rate limiter.
struct Live {
    model: provider::Model,
    sender: Box<dyn Sender>,
    limiter: DefaultDirectRateLimiter,
}

/// A claimed batch once sent: the claim's token and each message's outcome, to be recorded.
struct Batch {
    holder: String,
    outcomes: Vec<(message::Model, Outcome)>,
}

/// A batch's outcomes being written.
type Recording = tokio::task::JoinHandle<AppResult<()>>;

/// Waits for a batch being recorded, if any.
async fn finish(recording: Option<Recording>) {
    if let Some(r) = recording {
        match r.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "recording a batch failed"),
            Err(e) => tracing::warn!(error = %e, "recording a batch panicked"),
        }
    }
}

/// What a round does with one claimed message.
enum Plan {
    /// Through this provider; `reserved` when the send is counted ahead against its quota.
    Send {
        live: Arc<Live>,
        reserved: bool,
    },
    Suppress,
    /// Not to be sent: nothing left to say, or its wave was cancelled or campaign ended.
    Cancel(&'static str),
    /// Could not be composed.
    Fail(String),
    Defer {
        until: chrono::DateTime<Utc>,
        reason: &'static str,
    },
}

/// Part of a provider's daily quota taken for a batch ([`outbox::reserve`]).
struct Reservation {
    provider_id: i64,
    day: chrono::NaiveDate,
    granted: i64,
}

/// Enabled providers by channel, with the time they were loaded.
type ProviderCache = (chrono::DateTime<Utc>, HashMap<Channel, Vec<Arc<Live>>>);

pub struct Worker {
    pub id: String,
    db: Db,
    settings: Arc<Settings>,
    i18n: Arc<I18n>,
    secret: Vec<u8>,
    metrics: Arc<Metrics>,
    providers: tokio::sync::RwLock<ProviderCache>,
    file: Arc<Live>,
    quiet: QuietPolicy,
    /// Claims made so far; numbers each claim's token.
    claims: AtomicU64,
    /// Set when shutdown is asked for: sends not yet started are given back.
    stopping: AtomicBool,
    /// Providers that said their daily quota is used up, with when it renews.
    held: std::sync::Mutex<HashMap<i64, chrono::DateTime<Utc>>>,
}

const PROVIDERS_REFRESH_SECS: i64 = 30;

impl Worker {
    pub fn new(
        db: Db,
        settings: Arc<Settings>,
        i18n: Arc<I18n>,
        secret: Vec<u8>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let file_model = provider::Model {
            id: 0,
            name: "outbox folder".into(),
            channel: "any".into(),
            kind: Kind::File.code().into(),
            enabled: true,
            priority: i32::MAX,
            base_url: None,
            settings: "{}".into(),
            credentials: "{}".into(),
            timeout_ms: 5000,
            rate_per_sec: 10_000,
            daily_quota: None,
            concurrency: 8,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let file = Arc::new(Live {
            sender: Box::new(channels::file::FileSender::new(&settings.outbox_dir)),
            limiter: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(10_000).expect("non-zero"),
            )),
            model: file_model,
        });
        Arc::new(Self {
            id: format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple()),
            db,
            i18n,
            secret,
            metrics,
            providers: tokio::sync::RwLock::new((Utc::now() - Duration::days(1), HashMap::new())),
            file,
            quiet: settings.quiet_policy(),
            settings,
            claims: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            held: Default::default(),
        })
    }

    /// The usable enabled providers for a channel, by priority, re-read from the database
    /// every half minute so edits on the admin page take effect without a restart. None when
    /// the channel has no provider at all (then the file channel takes its messages); an empty
    /// list when its providers are all disabled or cannot be built (then messages wait: turning
    /// a provider off for a while must not send its messages to the folder).
    async fn providers_for(&self, channel: Channel) -> AppResult<Option<Vec<Arc<Live>>>> {
        {
            let cache = self.providers.read().await;
            if (Utc::now() - cache.0).num_seconds() < PROVIDERS_REFRESH_SECS {
                return Ok(cache.1.get(&channel).cloned());
            }
        }
        let rows = provider::Entity::find()
            .order_by_asc(provider::Column::Priority)
            .order_by_asc(provider::Column::Id)
            .all(&self.db.conn)
            .await?;
        let mut map: HashMap<Channel, Vec<Arc<Live>>> = HashMap::new();
        for p in rows {
            let Ok(channel) = Channel::parse(&p.channel) else {
                continue;
            };
            let live = map.entry(channel).or_default();
            if !p.enabled {
                continue;
            }
            match channels::build(&p, &self.settings.outbox_dir) {
                Ok(sender) => {
                    let rate = NonZeroU32::new(p.rate_per_sec.max(1) as u32).expect("at least 1");
                    live.push(Arc::new(Live {
                        sender,
                        limiter: RateLimiter::direct(Quota::per_second(rate)),
                        model: p,
                    }));
                }
                Err(e) => tracing::warn!(provider = p.id, error = %e, "provider not usable"),
            }
        }
        let mut cache = self.providers.write().await;
        *cache = (Utc::now(), map);
        Ok(cache.1.get(&channel).cloned())
    }

    /// Runs every channel's loop until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        // The loops look at the signal between batches; sends look at this flag, so a batch
        // being sent stops at the next message rather than at its end.
        let watcher = {
            let me = self.clone();
            let mut signal = shutdown.clone();
            tokio::spawn(async move {
                while !*signal.borrow_and_update() {
                    if signal.changed().await.is_err() {
                        return;
                    }
                }
                me.stopping.store(true, Ordering::SeqCst);
            })
        };
        let loops: Vec<_> = Channel::ALL
            .iter()
            .map(|c| {
                let w = self.clone();
                let s = shutdown.clone();
                let c = *c;
                tokio::spawn(async move { w.channel_loop(c, s).await })
            })
            .collect();
        for l in loops {
            let _ = l.await;
        }
        watcher.abort();
        match outbox::release(&self.db, &self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "claims given back"),
            Err(e) => tracing::warn!(error = %e, "releasing claims failed"),
        }
    }

    /// One channel's loop. Recording a batch overlaps with claiming and sending the next one
    /// (at most one batch is being recorded at a time), so the provider is kept busy.
    async fn channel_loop(self: Arc<Self>, channel: Channel, mut shutdown: watch::Receiver<bool>) {
        let poll = StdDuration::from_millis(self.settings.worker_poll_ms.max(10).into());
        let mut recording: Option<Recording> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = if let Some(end) = self.quiet_until(channel) {
                // Quiet hours: nothing of this channel is claimed; messages wait, none is dropped.
                ((end - Utc::now()).to_std().unwrap_or(poll)).min(StdDuration::from_secs(60))
            } else {
                match self.claim_and_send(channel).await {
                    Ok(None) => poll,
                    Ok(Some(batch)) => {
                        finish(recording.take()).await;
                        let me = self.clone();
                        recording =
                            Some(tokio::spawn(async move { me.record(channel, batch).await }));
                        StdDuration::ZERO
                    }
                    Err(e) => {
                        tracing::warn!(channel = channel.code(), error = %e, "delivery round failed");
                        poll * 4
                    }
                }
            };
            if !wait.is_zero() {
                finish(recording.take()).await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        finish(recording).await;
    }

    /// Claims one batch of a channel and sees it through; returns how many were claimed.
    /// Nothing is claimed in the channel's quiet hours: its messages wait.
    pub async fn run_once(&self, channel: Channel) -> AppResult<usize> {
        if self.quiet_until(channel).is_some() {
            return Ok(0);
        }
        match self.claim_and_send(channel).await? {
            None => Ok(0),
            Some(batch) => {
                let n = batch.outcomes.len();
                self.record(channel, batch).await?;
                Ok(n)
            }
        }
    }

    /// Claims a batch and sends it; the outcomes are still to be recorded. Providers with a
    /// daily quota get only as many messages as they could reserve of it (in priority order);
    /// what was reserved but not sent is given back before returning.
    async fn claim_and_send(&self, channel: Channel) -> AppResult<Option<Batch>> {
        let lease = Duration::seconds(self.settings.worker_lease_secs.into());
        // Each claim has its own token, so that only this claim's outcomes are recorded on
        // what it took, even if a later claim of this same worker takes a message over.
        let holder = format!(
            "{}#{}",
            self.id,
            self.claims.fetch_add(1, Ordering::Relaxed) + 1
        );
        let batch = outbox::claim(
            &self.db,
            channel,
            &holder,
            self.settings.worker_batch,
            lease,
        )
        .await?;
        if batch.is_empty() {
            return Ok(None);
        }
        let n = batch.len();
        tracing::debug!(channel = channel.code(), claim = %holder, messages = n, "batch claimed");
        let mut guardian_ids: Vec<i64> = batch.iter().map(|m| m.guardian_id).collect();
        guardian_ids.sort_unstable();
        guardian_ids.dedup();
        let configured = self.providers_for(channel).await?;
        let to_file = configured.is_none();
        let providers = configured.unwrap_or_default();
        // Who may be messaged now (consent may have been withdrawn since the message was
        // queued), at the address as it is now: a number corrected since must not receive it at
        // the old one.
        let addresses: HashMap<i64, String> =
            contacts::reachable_guardians(&self.db.conn, channel, &guardian_ids)
                .await?
                .into_iter()
                .filter_map(|g| super::compose::address(&g, channel).map(|a| (g.id, a)))
                .collect();
        let mut plan = Vec::with_capacity(n);
        let mut to_send = Vec::with_capacity(n);
        for mut m in batch {
            let Some(address) = addresses.get(&m.guardian_id) else {
                plan.push((m, Plan::Suppress));
                continue;
            };
            m.recipient = Some(address.clone());
            to_send.push(m);
        }
        // A message of a wave cancelled, or of a campaign ended, since it was queued (it may have
        // been in flight, deferred or retrying then) is not sent.
        let withdrawn = crate::reminders::waves::withdrawn(&self.db.conn, &to_send).await?;
        if !withdrawn.is_empty() {
            let (gone, keep): (Vec<_>, Vec<_>) =
                to_send.into_iter().partition(|m| withdrawn.contains(&m.id));
            plan.extend(gone.into_iter().map(|m| (m, Plan::Cancel("withdrawn"))));
            to_send = keep;
        }
        // Waves and reminders are written now, with the children who still need cover.
        let waiting: Vec<message::Model> = to_send
            .iter()
            .filter(|m| m.content.is_none())
            .cloned()
            .collect();
        let mut composed = std::collections::HashSet::new();
        if !waiting.is_empty() {
            let base = self.settings.base();
            let mut late = self
                .composer(&base)
                .compose_waiting(&self.db.conn, &waiting, None)
                .await?;
            let mut ready = Vec::with_capacity(to_send.len());
            for mut m in to_send {
                match late.remove(&m.id) {
                    None => ready.push(m),
                    Some(Late::Ready(r)) => {
                        m.content = Some(serde_json::to_string(&r).unwrap_or_default());
                        composed.insert(m.id);
                        ready.push(m);
                    }
                    Some(Late::Nothing) => {
                        plan.push((m, Plan::Cancel(crate::reminders::goal::INSURED_REASON)))
                    }
                    Some(Late::Failed(e)) => plan.push((m, Plan::Fail(e))),
                }
            }
            to_send = ready;
        }
        // Shares by priority: a provider with a daily quota takes what it could reserve of it
        // (one statement for the whole batch), the first one without a quota takes the rest.
        let mut shares: Vec<(Arc<Live>, usize, bool)> = Vec::new();
        let mut reservations: Vec<Reservation> = Vec::new();
        let mut left = to_send.len();
        for p in &providers {
            if left == 0 {
                break;
            }
            if self.held_until(p.model.id).is_some() {
                continue;
            }
            let Some(quota) = p.model.daily_quota else {
                shares.push((p.clone(), left, false));
                break;
            };
            let reserved = outbox::reserve(
                &self.db,
                p.model.id,
                quota,
                left as i64,
                self.settings.timezone,
            )
            .await;
            let (day, granted) = match reserved {
                Ok(r) => r,
                Err(e) => {
                    // The claims come back when their lease runs out; the quota taken so far
                    // must not stay taken.
                    self.give_back(&reservations, &[]).await;
                    return Err(e);
                }
            };
            if granted > 0 {
                reservations.push(Reservation {
                    provider_id: p.model.id,
                    day,
                    granted,
                });
                shares.push((p.clone(), granted as usize, true));
                left -= granted as usize;
            }
        }
        let mut shares = shares
            .into_iter()
            .flat_map(|(live, k, reserved)| std::iter::repeat_n((live, reserved), k));
        for m in to_send {
            let step = match shares.next() {
                Some((live, reserved)) => Plan::Send { live, reserved },
                None if to_file => Plan::Send {
                    live: self.file.clone(),
                    reserved: false,
                },
                // The channel's providers are disabled, or none could be built (a setting
                // edited by hand): the message waits rather than going anywhere else.
                None if providers.is_empty() => Plan::Defer {
                    until: Utc::now() + Duration::minutes(1),
                    reason: "no usable provider",
                },
                // Every provider of the channel has used its quota: wait for tomorrow (or for
                // when the first provider that said so renews it).
                None => Plan::Defer {
                    until: providers
                        .iter()
                        .filter_map(|p| self.held_until(p.model.id))
                        .min()
                        .unwrap_or_else(|| self.next_local_midnight()),
                    reason: "daily quota",
                },
            };
            plan.push((m, step));
        }
        let concurrency = providers
            .first()
            .map(|p| p.model.concurrency.max(1) as usize)
            .unwrap_or(8);
        let composed = &composed;
        let outcomes: Vec<(message::Model, Outcome)> = stream::iter(plan)
            .map(|(m, step)| async move {
                let outcome = match step {
                    Plan::Suppress => Outcome::Suppressed,
                    Plan::Cancel(reason) => Outcome::Cancel { reason },
                    Plan::Fail(e) => Outcome::Dead {
                        failure: Failure::new(ErrorClass::Content, &e),
                        fallback: None,
                    },
                    Plan::Defer { until, reason } => Outcome::Defer { until, reason },
                    Plan::Send { live, reserved } => {
                        self.send_one(&m, &live, reserved, composed.contains(&m.id))
                            .await
                    }
                };
                (m, outcome)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        self.give_back(&reservations, &outcomes).await;
        Ok(Some(Batch { holder, outcomes }))
    }

    /// Gives back what each reservation did not use: what is not a send (not started because
    /// the worker is stopping or the lease running out, deferred, or failed) frees its place
    /// in the quota. A failure to give back only leaves the provider short today.
    async fn give_back(
        &self,
        reservations: &[Reservation],
        outcomes: &[(message::Model, Outcome)],
    ) {
        for r in reservations {
            let used = outcomes
                .iter()
                .filter(|(_, o)| {
                    matches!(o, Outcome::Sent { provider_id: Some(p), reserved: true, .. }
                        if *p == r.provider_id)
                })
                .count() as i64;
            if let Err(e) =
                outbox::give_back(&self.db, r.provider_id, r.day, r.granted - used).await
            {
                tracing::warn!(provider = r.provider_id, error = %e, "giving back quota failed");
            }
        }
    }

    /// Records a batch's outcomes and counts them. The fallbacks of messages that died because
    /// the person is not on the channel are composed first and queued by the same transaction.
    async fn record(&self, channel: Channel, mut batch: Batch) -> AppResult<()> {
        for (m, outcome) in batch.outcomes.iter_mut() {
            if let Outcome::Dead { failure, fallback } = outcome {
                if failure.class.falls_back() {
                    *fallback = self.fallback_for(m).await?.map(Box::new);
                }
            }
        }
        let recorded = outbox::record(
            &self.db,
            &batch.holder,
            batch.outcomes,
            self.settings.timezone,
        )
        .await?;
        for (_, outcome) in &recorded {
            self.metrics.count(channel, outcome);
        }
        Ok(())
    }

    fn composer<'a>(&'a self, base_url: &'a str) -> Composer<'a> {
        Composer {
            i18n: &self.i18n,
            base_url,
            secret: &self.secret,
            track_opens: self.settings.track_opens,
        }
    }

    /// The end of the channel's quiet hours if they are on now.
    fn quiet_until(&self, channel: Channel) -> Option<chrono::DateTime<Utc>> {
        self.quiet
            .for_channel(channel)
            .and_then(|q| q.ends_after(Utc::now(), self.settings.timezone))
    }

    fn next_local_midnight(&self) -> chrono::DateTime<Utc> {
        next_midnight(self.settings.timezone)
    }

    /// When a provider that said its quota is used up may be asked again, if it is not yet.
    fn held_until(&self, provider_id: i64) -> Option<chrono::DateTime<Utc>> {
        let mut held = self.held.lock().expect("not poisoned");
        match held.get(&provider_id) {
            Some(until) if *until > Utc::now() => Some(*until),
            Some(_) => {
                held.remove(&provider_id);
                None
            }
            None => None,
        }
    }

    /// Sends one message; `composed`: its content was written for this send (and is stored
    /// with it).
    async fn send_one(
        &self,
        m: &message::Model,
        live: &Live,
        reserved: bool,
        composed: bool,
    ) -> Outcome {
        let content: Rendered = match m.content.as_deref().map(serde_json::from_str) {
            Some(Ok(c)) => c,
            _ => {
                return Outcome::Dead {
                    failure: Failure::new(ErrorClass::Content, "no content"),
                    fallback: None,
                }
            }
        };
        let channel = Channel::parse(&m.channel).unwrap_or(Channel::Sms);
        let out = Outbound {
            message_id: m.id,
            idempotency_key: m.idempotency_key.clone(),
            recipient: m.recipient.clone().unwrap_or_default(),
            language: m.language.clone(),
            content,
            one_click_unsubscribe: (channel == Channel::Email).then(|| {
                unsubscribe::one_click_url(&self.settings.base(), &self.secret, m.guardian_id)
            }),
        };
        if self.stopping.load(Ordering::SeqCst) {
            return Outcome::Release { reason: "stopping" };
        }
        live.limiter.until_ready().await;
        if self.stopping.load(Ordering::SeqCst) {
            return Outcome::Release { reason: "stopping" };
        }
        // The provider said its daily quota is used up (perhaps while this batch was sending):
        // asking again before it renews would only be refused.
        if let Some(until) = self.held_until(live.model.id) {
            return Outcome::Defer {
                until,
                reason: "provider daily quota",
            };
        }
        // A send must end within the lease: once it has run out, another worker may take the
        // message and send it too. What cannot be sent in time goes back to the queue.
        if !self.lease_lasts(m, live) {
            return Outcome::Release {
                reason: "lease running out",
            };
        }
        let provider_id = (live.model.id != 0).then_some(live.model.id);
        match live.sender.send(&out).await {
            Ok(accepted) => Outcome::Sent {
                provider_id,
                accepted,
                reserved,
                content: if composed { m.content.clone() } else { None },
            },
            Err(failure) if failure.class == ErrorClass::QuotaExhausted => {
                let until = next_midnight(chrono_tz::Asia::Ho_Chi_Minh);
                self.held
                    .lock()
                    .expect("not poisoned")
                    .insert(live.model.id, until);
                tracing::warn!(
                    provider = live.model.id,
                    detail = %failure.detail,
                    until = %until,
                    "provider's daily quota used up; its messages wait"
                );
                Outcome::Defer {
                    until,
                    reason: "provider daily quota",
                }
            }
            Err(failure) if failure.class.retryable() && m.attempts < m.max_attempts => {
                if failure.class == ErrorClass::ProviderConfig {
                    tracing::warn!(
                        provider = live.model.id,
                        detail = %failure.detail,
                        "provider set-up error; retrying"
                    );
                }
                let wait = super::model::backoff(
                    m.attempts,
                    Duration::seconds(self.settings.retry_base_secs.into()),
                    Duration::seconds(self.settings.retry_cap_secs.into()),
                );
                Outcome::Retry {
                    failure,
                    at: Utc::now() + wait,
                }
            }
            Err(failure) => Outcome::Dead {
                failure,
                fallback: None,
            },
        }
    }

    /// Whether the claim on `m` still has time for one send through `live` (its timeout, or at
    /// most half the lease when a provider's timeout is longer than that).
    fn lease_lasts(&self, m: &message::Model, live: &Live) -> bool {
        let lease = Duration::seconds(self.settings.worker_lease_secs.into());
        let margin = Duration::milliseconds(live.model.timeout_ms.max(0).into()).min(lease / 2);
        m.lease_until.is_some_and(|end| Utc::now() + margin < end)
    }

    /// The message for the next channel of `m`'s fallback plan, when the person can be reached
    /// there; it is queued when `m` is recorded dead.
    async fn fallback_for(&self, m: &message::Model) -> AppResult<Option<NewMessage>> {
        let plan: Vec<FallbackStep> = match &m.fallback_plan {
            Some(p) => serde_json::from_str(p).unwrap_or_default(),
            None => return Ok(None),
        };
        let Some((step, rest)) = plan.split_first() else {
            return Ok(None);
        };
        if contacts::reachable(&self.db.conn, step.channel, &[m.guardian_id])
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let key = format!("{}|fallback:{}", m.idempotency_key, step.channel.code());
        // Messages of waves, reminders and thank-yous are written when sent, from the children
        // they were queued for: so is their fallback. A manual message's is written now, as it
        // was.
        let bulk = [
            outbox::source::WAVE,
            outbox::source::RULE,
            outbox::source::THANKS,
        ]
        .contains(&m.source_kind.as_str());
        let (recipient, content, language) = if bulk {
            let Some(address) = guardian::Entity::find_by_id(m.guardian_id)
                .one(&self.db.conn)
                .await?
                .and_then(|g| super::compose::address(&g, step.channel))
            else {
                return Ok(None);
            };
            (address, None, Lang::parse(&m.language).unwrap_or_default())
        } else {
            let base = self.settings.base();
            let Some(c) = self
                .composer(&base)
                .compose(
                    &self.db.conn,
                    m.guardian_id,
                    step.template_id,
                    step.template_version,
                    &key,
                    true,
                )
                .await?
            else {
                return Ok(None);
            };
            (
                c.recipient,
                Some(c.content),
                Lang::parse(&m.language).unwrap_or(c.language),
            )
        };
        let students: Vec<i64> = super::entity::message_student::Entity::find()
            .filter(super::entity::message_student::Column::MessageId.eq(m.id))
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|l| l.student_id)
            .collect();
        Ok(Some(NewMessage {
            idempotency_key: key,
            source_kind: crate::delivery::outbox::source::ALL
                .iter()
                .find(|s| **s == m.source_kind)
                .copied()
                .unwrap_or(outbox::source::MANUAL),
            source_id: m.source_id,
            occurrence_id: m.occurrence_id,
            campaign_id: m.campaign_id,
            school_id: m.school_id,
            guardian_id: m.guardian_id,
            channel: step.channel,
            template_id: Some(step.template_id),
            template_version: Some(step.template_version),
            language,
            recipient,
            content,
            student_ids: students,
            fallback: rest.to_vec(),
            fallback_of: Some(m.id),
            not_before: Utc::now(),
            max_attempts: self.settings.max_attempts as i32,
        }))
    }
}

/// The next midnight in `tz`.
fn next_midnight(tz: chrono_tz::Tz) -> chrono::DateTime<Utc> {
    let tomorrow = Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .succ_opt()
        .expect("a next day");
    tz.from_local_datetime(&tomorrow.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc::now() + Duration::hours(24))
}

/// The host's name, at most 40 bytes (worker ids must fit the `leased_by` column).
fn hostname() -> String {
    let h = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    super::model::clip(&h, 40)
}
