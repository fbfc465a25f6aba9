//! Hardware back end: device targets, Verilog generation, testbench and
//! co-simulation (Verilator / Icarus), open-source synthesis (Yosys), an
//! analytical estimator and the hardware report.
//!
//! Everything here is pure except the subprocess runners in [`tools`],
//! which are used by [`cosim`] and [`synth`] in a work directory the
//! caller hands in.

pub mod cosim;
pub mod devices;
pub mod estimate;
pub mod report;
pub mod rtl;
pub mod synth;
pub mod testbench;
pub mod tools;
