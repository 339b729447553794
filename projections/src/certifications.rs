//! The `certifications` read model: who is certified, by which document, by whom, and the
//! business they represent (S6); folded from `Certification` events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::certification::{Certification, CertificationEvent};
use eventlog::{Consumer, ConsumerError, RecordedEvent};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

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
        if event.aggregate_type != Certification::TYPE {
            return Ok(());
        }
        let payload: CertificationEvent = serde_json::from_value(event.payload.clone())
            .map_err(|e| ConsumerError::decode(event, e))?;
        match payload {
            CertificationEvent::UserCertified {
                account_id,
                holder_name,
                document,
                document_number,
                business,
                clerk,
                at,
            } => {
                sqlx::query(
                    "INSERT INTO certifications (account_id, certified, holder_name, document, \
                     document_number, business_name, business_afm, certified_by_name, \
                     certified_at, last_sequence) \
                     VALUES ($1, true, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (account_id) DO UPDATE SET certified = true, \
                     holder_name = $2, document = $3, document_number = $4, business_name = $5, \
                     business_afm = $6, certified_by_name = $7, certified_at = $8, \
                     revoked_by_name = NULL, revoked_at = NULL, revoke_reason = NULL, \
                     last_sequence = $9 WHERE certifications.last_sequence < $9",
                )
                .bind(&account_id)
                .bind(&holder_name)
                .bind(document.as_str())
                .bind(&document_number)
                .bind(business.as_ref().map(|b| b.company_name.clone()))
                .bind(business.as_ref().map(|b| b.afm.clone()))
                .bind(&clerk.name)
                .bind(at)
                .bind(event.sequence)
                .execute(&mut *conn)
                .await?;
            }
            CertificationEvent::CertificationRevoked { clerk, reason, at } => {
                sqlx::query(
                    "UPDATE certifications SET certified = false, revoked_by_name = $2, \
                     revoked_at = $3, revoke_reason = $4, last_sequence = $5 \
                     WHERE account_id = $1 AND last_sequence < $5",
                )
                .bind(&event.aggregate_id)
                .bind(&clerk.name)
                .bind(at)
                .bind(&reason)
                .bind(event.sequence)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// An account's certification as the pages show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CertificationRow {
    pub account_id: String,
    pub certified: bool,
    pub holder_name: String,
    pub document: String,
    pub document_number: String,
    pub business_name: Option<String>,
    pub business_afm: Option<String>,
    pub certified_by_name: String,
    pub certified_at: DateTime<Utc>,
    pub revoked_by_name: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
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
