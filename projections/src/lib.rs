//! Read models: tables folded from the event log by checkpointed consumers, the queries the
//! API serves from them, and rebuilding them from position zero.

pub mod applications;
pub mod audit_index;
pub mod business;
pub mod certifications;
pub mod dashboard;
pub mod declarations;
mod fold;
pub mod paging;
pub mod payments;
pub mod rebuild;
pub mod requests;
pub mod stats;
pub mod tax_debts;
pub mod traffic_fines;

use std::sync::Arc;

use eventlog::Consumer;

pub use rebuild::{prepare, rebuild, rebuild_all, RebuildError, RebuildReport};

/// A consumer that owns tables. Its tables are created from [`ReadModel::create_sql`]
/// (unqualified names, so a rebuild can create them in a scratch schema) and are dropped
/// and rebuilt whenever [`ReadModel::schema_version`] changes. A rebuild hands every read
/// model the log's batches whole, without copying them per model: its `handle_batch`
/// ignores the events of aggregate types it does not read.
pub trait ReadModel: Consumer {
    fn schema_version(&self) -> i32;
    fn tables(&self) -> &'static [&'static str];
    fn create_sql(&self) -> &'static str;
}

/// Every read model of the portal, in the order they are started and rebuilt.
pub fn all() -> Vec<Arc<dyn ReadModel>> {
    vec![
        Arc::new(requests::RequestsProjection),
        Arc::new(applications::ApplicationsProjection),
        Arc::new(certifications::CertificationsProjection),
        Arc::new(payments::PaymentsProjection),
        Arc::new(declarations::DeclarationsProjection),
        Arc::new(business::BusinessTimelineProjection),
        Arc::new(traffic_fines::TrafficFinesProjection),
        Arc::new(tax_debts::TaxDebtsProjection),
        Arc::new(audit_index::AuditIndexProjection),
        Arc::new(dashboard::DashboardProjection),
    ]
}

/// The consumer names the auditor's search waits for.
pub const AUDIT_READS: &[&str] = &[audit_index::AuditIndexProjection::NAME];

/// The consumer names the clerks' dashboard, and the request figures of a clerk's work
/// overview, wait for (the overview's application figures are the applications queue's).
pub const DASHBOARD_READS: &[&str] = &[dashboard::DashboardProjection::NAME];

/// The consumer names a citizen's reads of their cases wait for.
pub const REQUEST_READS: &[&str] = &[requests::RequestsProjection::NAME];

/// The consumer names reads of certificate applications wait for.
pub const APPLICATION_READS: &[&str] = &[
    applications::ApplicationsProjection::NAME,
    certifications::CertificationsProjection::NAME,
];

/// The consumer names reads of payments wait for.
pub const PAYMENT_READS: &[&str] = &[payments::PaymentsProjection::NAME];

/// The consumer names reads of a business's certified debts wait for (the debt, and where
/// its latest payment stands).
pub const TAX_DEBT_READS: &[&str] = &[
    tax_debts::TaxDebtsProjection::NAME,
    payments::PaymentsProjection::NAME,
];

/// The consumer names reads of a business's declarations wait for (the declaration, and
/// where its payment stands).
pub const DECLARATION_READS: &[&str] = &[
    declarations::DeclarationsProjection::NAME,
    payments::PaymentsProjection::NAME,
];

/// The consumer names reads of traffic fines wait for (the fine, and its payments).
pub const FINE_READS: &[&str] = &[
    traffic_fines::TrafficFinesProjection::NAME,
    payments::PaymentsProjection::NAME,
];

/// The consumer names a business's history («Ιστορικό και αποδείξεις») waits for: its
/// timeline and its payments.
pub const BUSINESS_READS: &[&str] = &[
    business::BusinessTimelineProjection::NAME,
    payments::PaymentsProjection::NAME,
];

/// Every read model: what a reader waits for to see their own latest write, whatever it was.
pub const ALL_READS: &[&str] = &[
    requests::RequestsProjection::NAME,
    applications::ApplicationsProjection::NAME,
    certifications::CertificationsProjection::NAME,
    payments::PaymentsProjection::NAME,
    declarations::DeclarationsProjection::NAME,
    business::BusinessTimelineProjection::NAME,
    traffic_fines::TrafficFinesProjection::NAME,
    tax_debts::TaxDebtsProjection::NAME,
    audit_index::AuditIndexProjection::NAME,
    dashboard::DashboardProjection::NAME,
];
