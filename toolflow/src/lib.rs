//! toolflow
