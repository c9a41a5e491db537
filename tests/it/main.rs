//! Integration tests: the real `yunying` binary on loopback, driven by real
//! DICOM peers (DCMTK's storescu/echoscu and pynetdicom).
//!
//! Requirements (installed by `scripts/test.sh`): DCMTK under /usr/bin,
//! python3 with pydicom, pynetdicom and numpy.

mod harness;

mod annotations;
mod architecture;
mod audit_events;
mod backup;
mod bad_input;
mod cli;
mod colour;
mod crash;
mod dicomweb;
mod dimse_security;
mod durability;
mod empi;
mod encryption;
mod enhanced;
mod faults;
mod film;
mod film_security;
mod http_security;
mod ingest;
mod ingest_security;
mod institutions;
mod ledger;
mod limits;
mod nginx;
mod nodes;
mod observability;
mod openapi;
mod orphans;
mod people;
mod people_oidc;
mod pg_faults;
mod policy;
mod qr;
mod reading;
mod reading_viewer;
mod recognition;
mod renditions;
mod retention;
mod roles;
mod store_tools;
mod tls;
mod viewer;
mod viewer_files;
mod viewer_hanging;
mod viewer_mpr;
mod viewer_scout;
mod wire;
mod witness;
