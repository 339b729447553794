//! The portal's integration tests, as one test binary: each module is one area of the
//! portal, talking to a real portal on port 0 and the real PostgreSQL (a database per
//! test), and `browser` drives a real Chromium. One binary links the portal once instead of
//! once per file.

mod common;

mod account_security;
mod accounts;
mod append;
mod audit_search;
mod backup;
mod browser;
mod business;
mod business_debts;
mod business_declarations;
mod business_warrants;
mod certificates;
mod crash;
mod dashboard;
mod event_log;
mod fines;
mod idempotency;
mod mail;
mod open311;
mod operations;
mod pages_certificates;
mod pages_citizen;
mod pages_fines;
mod pages_staff;
mod paging;
mod payments;
mod record;
mod request_places;
mod requests;
mod restart;
mod staff_and_audit;
mod staff_home;
mod startup;
