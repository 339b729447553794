//! Certification of users by a clerk after an in-person identity check (S6), and the
//! user's view of their own certification: the JSON face of `commands::certification`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use commands::certification::{self, CertifyForm};
use domain::account::STAFF;
use projections::certifications as read;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::CurrentUser;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::http::{position_header, wait_for_own_writes, RequestContext};
use crate::i18n::{self, Lang};
use crate::labels::{labelled_certification, LabelledCertification};
use crate::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// The account's e-mail. Missing or malformed: 422 `email_invalid`.
    #[param(required, value_type = String)]
    email: Option<String>,
}

/// An account and its certification, as a clerk looks it up.
#[derive(Serialize, ToSchema)]
pub struct CertificationLookup {
    account: certification::AccountSummary,
    /// Null if the account was never certified.
    #[schema(required)]
    certification: Option<LabelledCertification>,
}

/// What a certification or a revocation did.
#[derive(Serialize, ToSchema)]
pub struct CertificationAnswer {
    account_id: uuid::Uuid,
    /// `true` after certifying, `false` after revoking.
    certified: bool,
    /// Its position in the log's commit order: `<transaction id>.<global position>`.
    #[schema(pattern = r"^[0-9]+\.[0-9]+$")]
    position: String,
}

/// The user's own certification.
#[derive(Serialize, ToSchema)]
pub struct MyCertification {
    certified: bool,
    /// Null if the user was never certified.
    #[schema(required)]
    certification: Option<LabelledCertification>,
    /// Always present: the message of `certification_required` in the reader's language.
    how_to_get_certified: String,
}

/// The certificates offered online (the municipality's configuration:
/// config/municipality.toml or PORTAL_MUNICIPALITY_CONFIG).
#[derive(Serialize, ToSchema)]
pub struct CertificateTypes {
    civil_registry: Vec<CertificateType>,
    tap: TapCertificate,
}

/// A civil-registry certificate offered online.
#[derive(Serialize, ToSchema)]
pub struct CertificateType {
    /// What an application's `certificate_type` takes.
    #[schema(examples("family_status"))]
    code: String,
    /// Greek, or English with `Accept-Language: en`.
    name: String,
    /// The statutory deadline in calendar days from the day of submission.
    #[schema(minimum = 1, maximum = 365)]
    deadline_days: u32,
}

/// The ΤΑΠ certificate.
#[derive(Serialize, ToSchema)]
pub struct TapCertificate {
    name: String,
    #[schema(minimum = 1, maximum = 365)]
    deadline_days: u32,
}

/// `GET /api/v1/staff/certifications?email=`: the account and its certification.
#[utoipa::path(
    get,
    path = "/api/v1/staff/certifications",
    operation_id = "lookupCertification",
    tag = "certification",
    summary = "Find an account by e-mail, with its certification",
    description = "Roles: clerk, admin. The e-mail is matched as registered (case and surrounding spaces do not matter).",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(LookupQuery, crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The account and its certification.", body = CertificationLookup, example = json!({"account": {"address": null, "email": "giorgos@mylos.gr", "father_name": null, "full_name": "Γεώργιος Αντωνίου", "id": "24c06e77-51ec-4f39-828f-5a3f3494240c", "phone": null, "role": "citizen"}, "certification": {"account_id": "24c06e77-51ec-4f39-828f-5a3f3494240c", "business_afm": "094259216", "business_name": "Ταβέρνα Ο Μύλος Ο.Ε.", "certified": false, "certified_at": "2026-11-27T04:14:19.179730Z", "certified_by_name": "Νίκος Δημητρίου", "document": "passport", "document_label": "Διαβατήριο", "document_number": "AE1234567", "holder_name": "Γεώργιος Αντωνίου", "revoke_reason": "Η εταιρεία λύθηκε· ο εκπρόσωπος δεν την εκπροσωπεί πλέον.", "revoked_at": "2026-11-27T04:15:28.853179Z", "revoked_by_name": "Νίκος Δημητρίου"}})),
        (status = 400, response = crate::openapi::BadQuery),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 422, description = "`validation_failed` with one entry in `fields` (`email`: `email_invalid`, `account_not_found`).", body = crate::error::ErrorBody, examples(("account_not_found" = (value = json!({"error": {"code": "validation_failed", "message": "Ορισμένα πεδία χρειάζονται διόρθωση. Δείτε τα μηνύματα δίπλα σε κάθε πεδίο.", "fields": [{"field": "email", "code": "account_not_found", "message": "Δεν υπάρχει λογαριασμός με αυτό το email."}]}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn lookup(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LookupQuery>,
) -> Result<impl IntoResponse, ApiError> {
    user.require(STAFF)?;
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::APPLICATION_READS,
    )
    .await?;
    let account = certification::find_account(&state, query.email.as_deref().unwrap_or("")).await?;
    let certification = read::get(&state.pool, &account.id.to_string()).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(CertificationLookup {
        account,
        certification: certification
            .as_ref()
            .map(|c| labelled_certification(c, lang)),
    }))
}

/// The clerk's certification form.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertifyBody {
    /// The account to certify (case and surrounding spaces do not matter). Must be a
    /// citizen's account.
    #[schema(value_type = String, required)]
    pub email: Option<String>,
    #[schema(value_type = domain::certification::IdentityDocument, required)]
    pub document: Option<String>,
    /// 4–20 letters or digits, Greek or Latin; spaces, dots and dashes are dropped and
    /// letters upper-cased.
    #[schema(value_type = String, required)]
    pub document_number: Option<String>,
    /// For a business certified through its representative: its registered name, one line.
    /// With `afm`, or neither (empty counts as absent).
    #[schema(max_length = 200)]
    pub company_name: Option<String>,
    /// The business's ΑΦΜ: 9 digits with a valid check digit (spaces, dots and dashes are
    /// dropped). With `company_name`, or neither.
    pub afm: Option<String>,
}

/// `POST /api/v1/staff/certifications`.
#[utoipa::path(
    post,
    path = "/api/v1/staff/certifications",
    operation_id = "certifyUser",
    tag = "certification",
    summary = "Certify a user after an in-person identity check",
    description = "Records the document checked and its number, the clerk and the time (event `UserCertified` on the account's `Certification` stream). A business is certified through its representative: the representative's account, with `company_name` and `afm`. Only citizens' accounts are certified. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = CertifyBody, examples(("citizen" = (value = json!({"email": "maria@example.gr", "document": "identity_card", "document_number": "ΑΚ 123456"}))), ("business" = (value = json!({"email": "giorgos@mylos.gr", "document": "passport", "document_number": "AE1234567", "company_name": "Ταβέρνα Ο Μύλος Ο.Ε.", "afm": "094 259 216"}))))),
    responses(
        (status = 201, description = "Certified.", body = CertificationAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"account_id": "b0f6cdbf-0509-4622-a94d-f07fd5af1da6", "certified": true, "position": "274986.1"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`email`: `email_invalid`, `account_not_found`, `staff_not_certifiable`; `document`: `document_kind_invalid`; `document_number`: `document_number_required`, `document_number_invalid`; `company_name`: `company_name_too_long`, `company_name_control_chars`, `business_incomplete`; `afm`: `afm_invalid`, `business_incomplete`). The account is looked up first: an `email` error comes alone. A business rule's refusal answers its own top-level code instead: `already_certified` (revoke first to record new details).", body = crate::error::ErrorBody, examples(("validation_failed" = (value = json!({"error": {"code": "validation_failed", "message": "Ορισμένα πεδία χρειάζονται διόρθωση. Δείτε τα μηνύματα δίπλα σε κάθε πεδίο.", "fields": [{"field": "document", "code": "document_kind_invalid", "message": "Επιλέξτε το έγγραφο που ελέγχθηκε: identity_card, passport ή residence_permit."}, {"field": "document_number", "code": "document_number_invalid", "message": "Ο αριθμός εγγράφου πρέπει να έχει 4 έως 20 γράμματα ή ψηφία, π.χ. ΑΚ 123456."}, {"field": "company_name", "code": "business_incomplete", "message": "Για επιχείρηση συμπληρώστε και την επωνυμία και τον ΑΦΜ, ή αφήστε και τα δύο κενά."}]}}))), ("already_certified" = (value = json!({"error": {"code": "already_certified", "message": "Ο χρήστης είναι ήδη πιστοποιημένος. Για νέα στοιχεία ανακαλέστε πρώτα την πιστοποίηση.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn certify(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<CertifyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let form = CertifyForm {
        email: body.email,
        document: body.document,
        document_number: body.document_number,
        company_name: body.company_name,
        afm: body.afm,
    };
    let (account, executed) =
        certification::certify(&state, &user.actor(), context.metadata(Some(&user)), form).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        position_header(executed.position),
        Json(CertificationAnswer {
            account_id: account.id,
            certified: true,
            position: executed.position.to_string(),
        }),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    #[schema(required, value_type = String)]
    pub email: Option<String>,
    /// Why (errors use the `note_*` codes on field `reason`).
    #[schema(required, value_type = String, min_length = 1, max_length = 1000)]
    pub reason: Option<String>,
}

/// `POST /api/v1/staff/certifications/revoke` (`{"email", "reason"}`).
#[utoipa::path(
    post,
    path = "/api/v1/staff/certifications/revoke",
    operation_id = "revokeCertification",
    tag = "certification",
    summary = "Revoke a user's certification",
    description = "With a reason (event `CertificationRevoked`). Applications already filed stay; new ones are refused with 403 `certification_required` until the user is certified again. Roles: clerk, admin.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    request_body(content = RevokeBody, example = json!({"email": "giorgos@mylos.gr", "reason": "Η εταιρεία λύθηκε· ο εκπρόσωπος δεν την εκπροσωπεί πλέον."})),
    responses(
        (status = 200, description = "Revoked.", body = CertificationAnswer, headers(("X-Portal-Position" = String, description = "The position the command wrote (same as `position` in the body). Send it back as `X-Portal-Position` to read your own write.")), example = json!({"account_id": "24c06e77-51ec-4f39-828f-5a3f3494240c", "certified": false, "position": "275112.19"})),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 409, response = crate::openapi::Conflict),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 422, description = "`validation_failed` with one entry in `fields` per bad field (`email`: `email_invalid`, `account_not_found`; `reason`: `note_required`, `note_too_long`, `note_control_chars`). A business rule's refusal answers its own top-level code instead: `not_certified`.", body = crate::error::ErrorBody, examples(("not_certified" = (value = json!({"error": {"code": "not_certified", "message": "Ο χρήστης δεν είναι πιστοποιημένος.", "fields": []}}))))),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    context: RequestContext,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (account, executed) = certification::revoke(
        &state,
        &user.actor(),
        context.metadata(Some(&user)),
        body.email.as_deref().unwrap_or(""),
        body.reason.as_deref().unwrap_or(""),
    )
    .await?;
    Ok((
        position_header(executed.position),
        Json(CertificationAnswer {
            account_id: account.id,
            certified: false,
            position: executed.position.to_string(),
        }),
    ))
}

/// `GET /api/v1/my/certification`: whether the user is certified, and how.
#[utoipa::path(
    get,
    path = "/api/v1/my/certification",
    operation_id = "getMyCertification",
    tag = "certification",
    summary = "Whether the user is certified, and how to get certified",
    description = "Any logged-in user. `certification` is the latest record (with the revocation, if any) or null; `how_to_get_certified` is always present.",
    security(("bearerAuth" = []), ("sessionCookie" = [])),
    params(crate::openapi::PortalPosition, crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The user's certification.", body = MyCertification, examples(("not_certified" = (value = json!({"certification": null, "certified": false, "how_to_get_certified": "Για αυτή την υπηρεσία χρειάζεται πιστοποίηση από τον Δήμο. Προσέλθετε στο Δημαρχείο ή σε ΚΕΠ με την αστυνομική σας ταυτότητα ή το διαβατήριό σας (για επιχείρηση: ο εκπρόσωπος, με το καταστατικό και τον ΑΦΜ) για να σας πιστοποιήσει υπάλληλος."}))), ("certified" = (value = json!({"certification": {"account_id": "b0f6cdbf-0509-4622-a94d-f07fd5af1da6", "business_afm": null, "business_name": null, "certified": true, "certified_at": "2026-11-27T04:14:19.143079Z", "certified_by_name": "Νίκος Δημητρίου", "document": "identity_card", "document_label": "Αστυνομική ταυτότητα", "document_number": "ΑΚ123456", "holder_name": "Μαρία Παπαδοπούλου", "revoke_reason": null, "revoked_at": null, "revoked_by_name": null}, "certified": true, "how_to_get_certified": "Για αυτή την υπηρεσία χρειάζεται πιστοποίηση από τον Δήμο. Προσέλθετε στο Δημαρχείο ή σε ΚΕΠ με την αστυνομική σας ταυτότητα ή το διαβατήριό σας (για επιχείρηση: ο εκπρόσωπος, με το καταστατικό και τον ΑΦΜ) για να σας πιστοποιήσει υπάλληλος."}))))),
        (status = 400, response = crate::openapi::BadPosition),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn mine(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    wait_for_own_writes(
        &state,
        Some(&user),
        &headers,
        projections::APPLICATION_READS,
    )
    .await?;
    let row = read::get(&state.pool, &user.account_id.to_string()).await?;
    let lang = Lang::from_headers(&headers);
    Ok(Json(MyCertification {
        certified: row.as_ref().is_some_and(|r| r.certified),
        certification: row.as_ref().map(|c| labelled_certification(c, lang)),
        how_to_get_certified: i18n::message(lang, "certification_required"),
    }))
}

/// `GET /api/v1/certificates/types`: the civil-registry certificates offered online and the
/// ΤΑΠ certificate, with their deadlines (public).
#[utoipa::path(
    get,
    path = "/api/v1/certificates/types",
    operation_id = "certificateTypes",
    tag = "certificates",
    summary = "The certificates offered online and their deadlines",
    description = "Public: no session needed (none is read). The civil-registry certificates of the municipality's configuration (each `code` is what `certificate_type` takes) and the ΤΑΠ certificate, each with its statutory deadline in calendar days. `name` is Greek, or English with `Accept-Language: en`.",
    security(()),
    params(crate::openapi::AcceptLanguage, crate::openapi::RequestId),
    responses(
        (status = 200, description = "The types.", body = CertificateTypes, example = json!({"civil_registry": [{"code": "family_status", "deadline_days": 10, "name": "Πιστοποιητικό Οικογενειακής Κατάστασης"}, {"code": "birth", "deadline_days": 10, "name": "Πιστοποιητικό Γέννησης"}, {"code": "next_of_kin", "deadline_days": 10, "name": "Πιστοποιητικό Εγγυτέρων Συγγενών"}, {"code": "citizenship", "deadline_days": 10, "name": "Πιστοποιητικό Ιθαγένειας"}, {"code": "local_origin", "deadline_days": 15, "name": "Πιστοποιητικό Εντοπιότητας"}, {"code": "permanent_residence", "deadline_days": 10, "name": "Βεβαίωση Μόνιμης Κατοικίας"}], "tap": {"deadline_days": 10, "name": "Βεβαίωση μη οφειλής ΤΑΠ"}})),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn types(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let lang = Lang::from_headers(&headers);
    let m = &state.config.municipality;
    let name = |el: &str, en: &str| {
        if lang == Lang::En {
            en.to_string()
        } else {
            el.to_string()
        }
    };
    Json(CertificateTypes {
        civil_registry: m
            .civil_registry
            .iter()
            .map(|t| CertificateType {
                code: t.code.clone(),
                name: name(&t.name_el, &t.name_en),
                deadline_days: t.deadline_days,
            })
            .collect(),
        tap: TapCertificate {
            name: name(&m.tap.name_el, &m.tap.name_en),
            deadline_days: m.tap.deadline_days,
        },
    })
}
