//! The pure core of inas: what turns an architecture, a profile and a supply into designs, plans
//! and predictions, and runs plans on a simulated device. No libtorch, no network, no serial
//! port and no file system: the `inas` crate holds those edges (ARCHITECTURE.md).

pub mod case;
pub mod explore;
pub mod model;
pub mod network;
pub mod planner;
pub mod predict;
pub mod profile;
pub mod q15ref;
pub mod quant;
pub mod simdev;
pub mod supply;
pub mod units;
