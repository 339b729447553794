//! The auditors' view (§6 of the design) as JSON: a case's full event list, its state as of
//! any sequence number, and the verification of its hash chain (`commands::audit`).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use commands::audit::{self, CaseEvents, CaseState, CaseVerification};
use domain::audit::StreamSearchFields;
use projections::audit_index::StreamListing;
use projections::paging::Paged;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::AppState;

/// The `{id}` of an audit route: a stream id ([`audit::stream_id`]), else 404.
pub struct StreamId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for StreamId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("case_not_found"))?;
        Ok(Self(audit::stream_id(&raw)?))
    }
}

/// `GET /api/v1/audit/cases/{id}/events`.
#[utoipa::path(
    get,
    path = "/api/v1/audit/cases/{id}/events",
    operation_id = "auditEvents",
    tag = "audit",
    summary = "Every stored event of a case",
    description = "Sequence, type, version, payload, metadata, recorded time, position and hashes, in sequence order. Roles: auditor, admin. Reads the event log itself, not a read model. Works for every stream of the log: a citizen's case (`CitizenRequest`), a certificate application (`CertificateApplication`), a user's certification (`Certification`, by account id), a payment (`Payment`), a traffic fine (`TrafficFine`), a tax declaration (`TaxDeclaration`) and a certified debt (`TaxDebt`); `GET /api/v1/audit/streams` finds their ids.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AuditId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The events.", body = CaseEvents),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
) -> Result<Json<CaseEvents>, ApiError> {
    Ok(Json(audit::events(&state, &user.actor(), &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    /// Fold the first this many events (all of them without it).
    #[param(value_type = Option<i64>, minimum = 1)]
    sequence: Option<String>,
}

/// `GET /api/v1/audit/cases/{id}/state?sequence=N`: the case folded from its first N
/// events (all of them without `sequence`).
#[utoipa::path(
    get,
    path = "/api/v1/audit/cases/{id}/state",
    operation_id = "auditState",
    tag = "audit",
    summary = "A case's state as of a sequence number",
    description = "The aggregate folded from its events 1..N (all of them without `sequence`; a number past the last event folds them all; an event that no longer decodes stops the fold before it, and `sequence` says the last event folded). Roles: auditor, admin. Reads the event log itself, not a read model. Works for every stream of the log: a citizen's case (`CitizenRequest`), a certificate application (`CertificateApplication`), a user's certification (`Certification`, by account id), a payment (`Payment`), a traffic fine (`TrafficFine`), a tax declaration (`TaxDeclaration`) and a certified debt (`TaxDebt`).",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AuditId, StateQuery, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The state.", body = CaseState),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`sequence`: `sequence_invalid`).", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn state(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
    ApiQuery(query): ApiQuery<StateQuery>,
) -> Result<Json<CaseState>, ApiError> {
    let sequence = query.sequence.as_deref();
    Ok(Json(
        audit::state(&state, &user.actor(), &id, sequence).await?,
    ))
}

/// `GET /api/v1/audit/cases/{id}/verify`: recomputes the hash chain from what is stored.
#[utoipa::path(
    get,
    path = "/api/v1/audit/cases/{id}/verify",
    operation_id = "auditVerify",
    tag = "audit",
    summary = "Verify a case's hash chain",
    description = "Recomputes every event's hash from the stored content and checks the links. `valid: false` names the first broken sequence and why. Tail truncation and a chain recomputed by someone with database superuser rights are detected only by comparing `head_hash` with one recorded elsewhere earlier. Roles: auditor, admin. Reads the event log itself, not a read model. Works for every stream of the log: a citizen's case (`CitizenRequest`), a certificate application (`CertificateApplication`), a user's certification (`Certification`, by account id), a payment (`Payment`), a traffic fine (`TrafficFine`), a tax declaration (`TaxDeclaration`) and a certified debt (`TaxDebt`); `GET /api/v1/audit/streams` finds their ids.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AuditId, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The verification (200 whether or not the chain is valid).", body = CaseVerification, example = json!({"case_id": "fb8814a6-2172-488c-a147-1eca18773d54", "valid": true, "events_checked": 7, "first_broken_sequence": null, "problem": null, "head_hash": "e5275125621c6bc3877aeba8ac8907ef081f45addbdda35774a412d6851eab0c"})),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::CaseNotFound),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    user: CurrentUser,
    StreamId(id): StreamId,
) -> Result<Json<CaseVerification>, ApiError> {
    Ok(Json(audit::verify(&state, &user.actor(), &id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamsQuery {
    /// Any number the stream is known by: its Α.Α. (`2026/000002`, or `2026/2`), a protocol
    /// number, a payment's order number, bank reference or transaction id, a fine's number
    /// or plate, a debt's number, a certified user's document number, a payment id of an
    /// obligation, or the stream's own id. Exact match, as written and as the portal stores
    /// it (a UUID in lower case, a plate as the fines system writes it). A payment is also
    /// found by its obligation's number (a fine's, a debt's).
    #[param(max_length = 100)]
    number: Option<String>,
    /// Whose streams: an e-mail (the account's, as normalized at registration: the citizen,
    /// applicant, payer, declarant or certified user) or a ΑΦΜ (the streams about that
    /// business: its declarations, debts and their payments, applications made for it, and
    /// the certifications of whoever represented it). Anything else: `audit_person_invalid`.
    #[param(max_length = 200)]
    person: Option<String>,
    /// The kind of stream.
    #[param(value_type = Option<domain::audit::StreamKind>)]
    kind: Option<String>,
    /// The stream began on or after this day (Athens time).
    #[param(value_type = Option<chrono::NaiveDate>)]
    from: Option<String>,
    /// The stream began on or before this day (Athens time); not before `from`.
    #[param(value_type = Option<chrono::NaiveDate>)]
    to: Option<String>,
    /// Keyset paging: the `next` of the previous page (opaque). Absent: the first page.
    /// Anything that is not such a cursor: 400 `cursor_invalid`.
    #[param(max_length = 1000)]
    after: Option<String>,
    /// Rows per page, 1 to 100 (default 20); else 400 `limit_out_of_range`.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
}

/// `GET /api/v1/audit/streams?number=&person=&kind=&from=&to=&after=&limit=`: the event
/// log's streams that match every criterion given, the most recently begun first, a page at
/// a time (issue 17).
#[utoipa::path(
    get,
    path = "/api/v1/audit/streams",
    operation_id = "auditStreams",
    tag = "audit",
    summary = "Search the event log's streams",
    description = "Every stream of the log (requests, certificate applications, certifications, payments, traffic fines, tax declarations, certified debts) that matches every criterion given, the most recently begun first, a page at a time; no criterion lists them all. Roles: auditor, admin. Reads the `audit_streams` read model once it has reached the log head. A stream whose events no longer decode is still listed (by its id). Each stream's `stream_id` opens it under `/api/v1/audit/cases/{id}/…`.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(StreamsQuery, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "A page of streams.", body = Paged<StreamListing>),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad criterion: `number` `audit_number_too_long`, `person` `audit_person_invalid`, `kind` `audit_kind_invalid`, `from` `audit_from_invalid`, `to` `audit_to_invalid` or `audit_range_invalid`.", body = crate::error::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn streams(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(q): ApiQuery<StreamsQuery>,
) -> Result<Json<Paged<StreamListing>>, ApiError> {
    let page = crate::http::page_request(
        q.after.as_deref(),
        q.limit,
        projections::paging::TIME_THEN_TEXT,
    )?;
    let fields = StreamSearchFields {
        number: q.number.as_deref(),
        person: q.person.as_deref(),
        kind: q.kind.as_deref(),
        from: q.from.as_deref(),
        to: q.to.as_deref(),
    };
    Ok(Json(
        crate::reads::audit_streams(&state, &user, &fields, &page).await?,
    ))
}

/// The staff accounts and every change made to them.
#[derive(Serialize, ToSchema)]
pub struct StaffAudit {
    staff: Vec<commands::accounts::StaffMember>,
    /// Newest first.
    changes: Vec<commands::accounts::StaffChange>,
}

/// `GET /api/v1/audit/staff`: the staff accounts and every change made to them.
#[utoipa::path(
    get,
    path = "/api/v1/audit/staff",
    operation_id = "auditStaff",
    tag = "audit",
    summary = "Staff accounts and every change made to them",
    description = "Auditors and administrators. Changes are made with `portal staff add|disable|enable|role` and recorded with who made them; the record is append-only.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The staff and the changes.", body = StaffAudit),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn staff(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Json<StaffAudit>, ApiError> {
    let changes = commands::accounts::staff_changes(&state, &user.actor()).await?;
    let staff = commands::accounts::staff(&state.pool).await?;
    Ok(Json(StaffAudit { staff, changes }))
}
