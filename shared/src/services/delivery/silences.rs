//! Silences from the chat: a click on "Silence 1h" or "Silence 24h" under an alert group's
//! message creates a silence in the app's Alertmanager (API v2), with the group's labels as
//! matchers and the clicking user as its author, then edits the message to say who silenced
//! it and for how long, without the silence buttons.

use super::{retry_delay, Delivery, JobOutcome};
use crate::domain::credentials::sha256_hex;
use crate::domain::job::SilenceJob;
use crate::domain::message::MessageContent;
use crate::domain::sources::alert_thread::ChatSilence;
use crate::domain::sources::alerts::{human_duration, is_silence_button};
use crate::domain::UnixTime;
use crate::logging::loggable;
use crate::ports::{FChatError, MessageEdit, OutgoingMessage, SilenceError, SilenceRequest};

/// How often a silence is attempted before the user is told it failed.
pub const SILENCE_MAX_ATTEMPTS: u32 = 8;

impl Delivery {
    /// Handles a silence click, handed out for the `receive_count`-th time.
    pub async fn silence(&self, job: SilenceJob, receive_count: u32) -> JobOutcome {
        match self.try_silence(&job).await {
            Ok(outcome) => outcome,
            Err(error) if receive_count >= SILENCE_MAX_ATTEMPTS => {
                tracing::warn!(group = %job.group, error, "the silence failed for the last time");
                self.tell(&job, &format!("Could not silence: {error}"))
                    .await;
                JobOutcome::Done
            }
            Err(error) => {
                tracing::warn!(group = %job.group, error, receive_count, "the silence will be retried");
                JobOutcome::RetryAfter(retry_delay(receive_count, None, self.max_retry_delay))
            }
        }
    }

    /// `Err` is worth retrying; anything final is `Ok`.
    async fn try_silence(&self, job: &SilenceJob) -> Result<JobOutcome, String> {
        // As a notification of the group does: one change of its message at a time.
        let now = self.clock.now();
        let held = self
            .contexts
            .lock_alert_thread(&job.group, now + self.lease.as_secs().max(1), now)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storage failed during a silence");
                "the gateway was briefly unable to read the alert group".to_owned()
            })?;
        if !held {
            return Err("the alert group's message was being changed".into());
        }
        let outcome = self.silence_held(job).await;
        if let Err(error) = self.contexts.unlock_alert_thread(&job.group).await {
            tracing::warn!(%error, "the alert group's hold was not released");
        }
        outcome
    }

    async fn silence_held(&self, job: &SilenceJob) -> Result<JobOutcome, String> {
        let now = self.clock.now();
        let store = |e: crate::ports::StoreError| {
            tracing::error!(error = %e, "storage failed during a silence");
            "the gateway was briefly unable to read the alert group".to_owned()
        };
        let Some(mut thread) = self
            .contexts
            .alert_thread(&job.group, now)
            .await
            .map_err(store)?
        else {
            self.tell(
                job,
                "Could not silence: this alert group is no longer known.",
            )
            .await;
            return Ok(JobOutcome::Done);
        };
        if thread.message_id != job.message_id {
            tracing::info!(group = %job.group, "a click on an older message of the group; ignored");
            return Ok(JobOutcome::Done);
        }
        let app = self.apps.app_by_name(&thread.app).await.map_err(store)?;
        let Some(alertmanager) = app.and_then(|a| a.alerting.alertmanager) else {
            self.tell(
                job,
                "Could not silence: the app has no Alertmanager configured.",
            )
            .await;
            return Ok(JobOutcome::Done);
        };
        let silence = match &thread.silence {
            // This click's silence exists: a retry only finishes the edit.
            Some(silence) if silence.update_id == job.update_id => silence.clone(),
            _ => {
                let length = human_duration(job.seconds);
                let request = SilenceRequest {
                    matchers: thread.labels.clone(),
                    starts_at: now,
                    ends_at: now + job.seconds,
                    created_by: job.user.clone(),
                    comment: format!("Silenced for {length} from FChat by {}", job.user),
                };
                let id = match self.silencer.create_silence(&alertmanager, &request).await {
                    Ok(id) => id,
                    Err(SilenceError::Transient(reason)) => return Err(reason),
                    Err(SilenceError::Permanent(reason)) => {
                        tracing::warn!(group = %job.group, reason, "Alertmanager refused the silence");
                        self.tell(job, &format!("Could not silence: {reason}"))
                            .await;
                        return Ok(JobOutcome::Done);
                    }
                };
                tracing::info!(group = %job.group, silence_id = %loggable(&id), "silence created");
                crate::metrics::events::silence_created();
                ChatSilence {
                    silence_id: id,
                    update_id: job.update_id.clone(),
                    note: format!(
                        "🔕 Silenced by {} for {length} (until {})",
                        job.user,
                        utc_time(request.ends_at)
                    ),
                    until: request.ends_at,
                }
            }
        };
        thread.silence = Some(silence);
        // Remembered before the edit: a retry edits again, and never silences twice.
        self.contexts
            .put_alert_thread(&thread)
            .await
            .map_err(store)?;
        let edit = MessageEdit {
            chat_id: thread.chat_id.clone(),
            message_id: thread.message_id.clone(),
            content: thread.shown(&thread.content, now, is_silence_button),
        };
        match self.fchat.edit_message(&edit).await {
            Ok(()) => Ok(JobOutcome::Done),
            Err(FChatError::Transient { reason, .. }) => Err(reason),
            Err(error) => {
                // The silence stands; the chat learns of it by a reply instead.
                tracing::warn!(%error, "the silenced message could not be edited");
                let note = thread.silence.map(|s| s.note).unwrap_or_default();
                self.tell(job, &note).await;
                Ok(JobOutcome::Done)
            }
        }
    }

    /// A reply to the clicked message. Best effort: the log has the rest.
    async fn tell(&self, job: &SilenceJob, text: &str) {
        let chat_id = job.chat_id.clone();
        let message = OutgoingMessage {
            chat_id,
            content: MessageContent {
                text: text.chars().take(500).collect(),
                keyboard: Vec::new(),
            },
            client_message_id: format!("silence.{}", sha256_hex(job.update_id.as_bytes())),
            reply_to_message_id: Some(job.message_id.clone()),
        };
        if let Err(error) = self.fchat.send_message(&message).await {
            tracing::warn!(%error, "could not tell the chat about the silence");
        }
    }
}

/// "2026-11-24 14:00 UTC".
fn utc_time(at: UnixTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(at as i64)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at.to_string())
}
