//! The `certifications` read model: who is certified, by which document, by whom, and the
//! business they represent (S6); folded from `Certification` events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::certification::{Certification, CertificationEvent};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::fold::{self, Table};
use crate::ReadModel;

pub struct CertificationsProjection;

impl CertificationsProjection {
    pub const NAME: &'static str = "certifications";
}

impl ReadModel for CertificationsProjection {
    fn schema_version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["certifications"]
    }

    fn create_sql(&self) -> &'static str {
        r#"
CREATE TABLE certifications (
    account_id        text PRIMARY KEY,
    certified         boolean     NOT NULL,
    holder_name       text        NOT NULL,
    document          text        NOT NULL,
    document_number   text        NOT NULL,
    business_name     text,
    business_afm      text,
    certified_by_name text        NOT NULL,
    certified_at      timestamptz NOT NULL,
    revoked_by_name   text,
    revoked_at        timestamptz,
    revoke_reason     text,
    last_sequence     bigint      NOT NULL
);
CREATE INDEX certifications_afm_idx ON certifications (business_afm);
"#
    }
}

#[async_trait]
impl Consumer for CertificationsProjection {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Certification::TYPE])
    }

    async fn handle(
        &self,
        conn: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ConsumerError> {
        self.handle_batch(conn, std::slice::from_ref(event)).await
    }

    /// Folds the batch in memory: one read of the accounts it touches, one write.
    async fn handle_batch(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ConsumerError> {
        let events = fold::decode::<CertificationEvent>(events, Certification::TYPE)?;
        if events.is_empty() {
            return Ok(());
        }
        let ids = fold::stream_ids(&events);
        let mut rows = Table::<CertificationState>::load(
            conn,
            "certifications",
            &["account_id"],
            "account_id",
            &ids,
        )
        .await?;
        for (event, payload) in events {
            // The stream is the account's: its id is the row's key.
            let id = event.aggregate_id.as_str();
            match payload {
                CertificationEvent::UserCertified {
                    account_id: _,
                    holder_name,
                    document,
                    document_number,
                    business,
                    clerk,
                    at,
                } => {
                    if rows.has_folded(id, event.sequence) {
                        continue;
                    }
                    rows.put(CertificationState {
                        account_id: id.to_string(),
                        certified: true,
                        holder_name,
                        document: document.as_str().to_string(),
                        document_number,
                        business_name: business.as_ref().map(|b| b.company_name.clone()),
                        business_afm: business.map(|b| b.afm),
                        certified_by_name: clerk.name,
                        certified_at: at,
                        revoked_by_name: None,
                        revoked_at: None,
                        revoke_reason: None,
                        last_sequence: event.sequence,
                    });
                }
                CertificationEvent::CertificationRevoked { clerk, reason, at } => {
                    if let Some(row) = rows.advance(id, event.sequence) {
                        row.certified = false;
                        row.revoked_by_name = Some(clerk.name);
                        row.revoked_at = Some(at);
                        row.revoke_reason = Some(reason);
                    }
                }
            }
        }
        rows.save(conn).await
    }
}

/// A row of `certifications`, every column.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificationState {
    account_id: String,
    certified: bool,
    holder_name: String,
    document: String,
    document_number: String,
    business_name: Option<String>,
    business_afm: Option<String>,
    certified_by_name: String,
    certified_at: DateTime<Utc>,
    revoked_by_name: Option<String>,
    revoked_at: Option<DateTime<Utc>>,
    revoke_reason: Option<String>,
    last_sequence: i64,
}

fold::sequenced_row!(CertificationState, account_id);

/// A user's certification as the `certifications` read model has it: the latest
/// certification, and the revocation that followed it, if any.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CertificationRow {
    /// The certified account.
    pub account_id: String,
    /// Whether the certification stands (false after a revocation).
    pub certified: bool,
    /// The name on the checked document (the account's full name at the time).
    pub holder_name: String,
    #[schema(value_type = domain::certification::IdentityDocument)]
    pub document: String,
    /// As checked: upper case, without spaces.
    #[schema(examples("ΑΚ123456"))]
    pub document_number: String,
    /// The business the user represents, if any.
    #[schema(required)]
    pub business_name: Option<String>,
    /// Its ΑΦΜ (9 digits).
    #[schema(required)]
    pub business_afm: Option<String>,
    /// The clerk who certified.
    pub certified_by_name: String,
    pub certified_at: DateTime<Utc>,
    #[schema(required)]
    pub revoked_by_name: Option<String>,
    #[schema(required)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[schema(required)]
    pub revoke_reason: Option<String>,
}

pub async fn get(pool: &PgPool, account_id: &str) -> Result<Option<CertificationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, certified, holder_name, document, document_number, business_name, \
         business_afm, certified_by_name, certified_at, revoked_by_name, revoked_at, \
         revoke_reason FROM certifications WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await
}
