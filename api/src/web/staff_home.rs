//! Where staff land after logging in (issue 17): a clerk on «Επισκόπηση εργασίας», the
//! queues with their counts (new and reopened cases, those in review or in progress, those
//! past their deadline; applications waiting, in review or waiting for the citizen, those
//! whose protocol registration fails, those past their deadline; refused notices), each a
//! link to the queue it counts. An auditor lands on «Έλεγχος ιστορικού», a citizen on
//! «Τα αιτήματά μου».

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::cases::error_page;
use super::staff::staff_user;
use super::{render, Page};
use crate::auth::Role;
use crate::dashboard;
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/staff", get(overview))
}

/// The page a person lands on after logging in (and where `/` takes staff).
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Clerk | Role::Admin => "/staff",
        Role::Auditor => "/audit",
        Role::Citizen => "/requests",
    }
}

/// One count of the overview, linked to the queue it counts.
pub struct WorkCount {
    pub id: String,
    pub label: String,
    pub count: i64,
    pub href: String,
}

#[derive(Template)]
#[template(path = "staff_home.html")]
struct OverviewPage {
    p: Page,
    requests: Vec<WorkCount>,
    applications: Vec<WorkCount>,
    notices: WorkCount,
}

/// The open statuses of a request a clerk works on, in the order of the work.
const OPEN_REQUESTS: [&str; 5] = [
    "submitted",
    "reopened",
    "in_review",
    "in_progress",
    "on_hold",
];
/// The statuses of an application that wait for the municipality or the citizen.
const OPEN_APPLICATIONS: [&str; 3] = ["submitted", "in_review", "information_requested"];

async fn overview(State(state): State<AppState>, p: Page) -> Response {
    if let Err(response) = staff_user(&p) {
        return *response;
    }
    let loaded = async {
        let work = dashboard::open_work(&state).await?;
        crate::http::wait_for_log_head(&state, projections::APPLICATION_READS).await?;
        let queue = projections::applications::queue_counts(&state.pool, work.today).await?;
        let notices: i64 = commands::refused_notices::count_by_outbox(&state.pool)
            .await?
            .iter()
            .map(|(_, n)| n)
            .sum();
        Ok::<_, ApiError>((work, queue, notices))
    };
    let (work, queue, notices) = match loaded.await {
        Ok(loaded) => loaded,
        Err(e) => return error_page(p, e),
    };
    let mut requests: Vec<WorkCount> = OPEN_REQUESTS
        .iter()
        .map(|status| {
            let count = work
                .requests_by_status
                .iter()
                .find(|c| c.key.as_deref() == Some(*status))
                .map_or(0, |c| c.count);
            WorkCount {
                id: format!("work-requests-{status}"),
                label: p.t(&format!("ui_work_requests_{status}")),
                count,
                href: format!("/staff/requests?status={status}"),
            }
        })
        .collect();
    requests.push(WorkCount {
        id: "work-requests-overdue".into(),
        label: p.t("ui_work_requests_overdue"),
        count: work.overdue_requests,
        href: "/staff/dashboard#overdue-heading".into(),
    });
    let mut applications: Vec<WorkCount> = OPEN_APPLICATIONS
        .iter()
        .map(|status| WorkCount {
            id: format!("work-applications-{status}"),
            label: p.t(&format!("ui_work_applications_{status}")),
            count: queue.by_status.get(*status).copied().unwrap_or(0),
            href: format!("/staff/applications?status={status}"),
        })
        .collect();
    applications.push(WorkCount {
        id: "work-applications-protocol-failing".into(),
        label: p.t("ui_work_applications_protocol_failing"),
        count: queue.protocol_failing,
        href: "/staff/applications?protocol=failing".into(),
    });
    applications.push(WorkCount {
        id: "work-applications-overdue".into(),
        label: p.t("ui_work_applications_overdue"),
        count: queue.overdue,
        href: "/staff/applications?overdue=1".into(),
    });
    let notices = WorkCount {
        id: "work-notices".into(),
        label: p.t("ui_work_refused_notices"),
        count: notices,
        href: "/staff/notices".into(),
    };
    render(&OverviewPage {
        p,
        requests,
        applications,
        notices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_lands_on_its_own_home() {
        assert_eq!(home_of(Role::Citizen), "/requests");
        assert_eq!(home_of(Role::Clerk), "/staff");
        assert_eq!(home_of(Role::Admin), "/staff");
        assert_eq!(home_of(Role::Auditor), "/audit");
    }
}
