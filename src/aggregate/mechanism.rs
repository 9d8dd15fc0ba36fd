//! The differential-privacy mechanisms of an aggregate release, all from the
//! OpenDP library (`opendp` crate): the discrete Laplace mechanism over a
//! vector of integer aggregates and its thresholded variant for partition
//! selection. Nothing here samples noise itself; this module only turns the
//! release's parameters (epsilon, delta, sensitivities) into OpenDP
//! measurements and checks their privacy maps.
//!
//! Every aggregate is an integer (rows, entities, or a sum in the column's
//! minor units, such as cents for `decimal(12,2)`), so the noise is the
//! discrete Laplace distribution on the integers (OpenDP's `make_laplace`
//! over `i64`), which avoids the floating-point attacks on textbook Laplace
//! samplers.

use std::collections::HashMap;

use opendp::core::Measurement;
use opendp::domains::{AtomDomain, MapDomain, VectorDomain};
use opendp::measurements::{make_laplace, make_laplace_threshold};
use opendp::measures::{Approximate, MaxDivergence};
use opendp::metrics::{AbsoluteDistance, L01InfDistance, L1Distance};

use crate::error::{Error, Result};

/// How one entity can change one measure, after contribution bounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sensitivity {
    /// Groups one entity can touch (l0).
    pub groups: u32,
    /// Largest change of one group's value (l-infinity).
    pub per_group: i64,
    /// Largest change of all groups' values together (l1).
    pub total: i64,
}

impl Sensitivity {
    /// The sensitivity of a measure to which an entity adds at most
    /// `per_group` to each of at most `groups` groups.
    pub fn new(groups: u32, per_group: i64) -> Result<Sensitivity> {
        let total = per_group
            .checked_mul(i64::from(groups))
            .ok_or_else(|| Error::Usage("the contribution bounds overflow 64 bits".into()))?;
        Ok(Sensitivity {
            groups,
            per_group,
            total,
        })
    }
}

fn dp(context: &str) -> impl FnOnce(opendp::error::Error) -> Error + '_ {
    move |e| {
        Error::Usage(format!(
            "{context}: OpenDP refused the mechanism: {}",
            e.message.unwrap_or_else(|| format!("{:?}", e.variant))
        ))
    }
}

/// The discrete Laplace mechanism on a vector of integer aggregates.
pub type LaplaceMeasurement =
    Measurement<VectorDomain<AtomDomain<i64>>, L1Distance<i64>, MaxDivergence, Vec<i64>>;

/// The discrete Laplace mechanism (OpenDP's `make_laplace`) on a vector of
/// integer aggregates.
pub fn laplace_vector(scale: f64) -> Result<LaplaceMeasurement> {
    make_laplace(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L1Distance::<i64>::default(),
        scale,
        None,
    )
    .map_err(dp("Laplace"))
}

/// The thresholded discrete Laplace mechanism on a map of integer counts
/// (keys with a noisy count below `threshold` are dropped).
pub type ThresholdMeasurement = Measurement<
    MapDomain<AtomDomain<u32>, AtomDomain<i64>>,
    L01InfDistance<AbsoluteDistance<i64>>,
    Approximate<MaxDivergence>,
    HashMap<u32, i64>,
>;

/// The thresholded discrete Laplace mechanism (OpenDP's `make_laplace_threshold`).
pub fn laplace_threshold(scale: f64, threshold: i64) -> Result<ThresholdMeasurement> {
    make_laplace_threshold(
        MapDomain::new(AtomDomain::<u32>::default(), AtomDomain::<i64>::default()),
        L01InfDistance::<AbsoluteDistance<i64>>::default(),
        scale,
        threshold,
        None,
    )
    .map_err(dp("partition selection"))
}

/// The epsilon the Laplace mechanism of `scale` spends on `sensitivity` (OpenDP's privacy map).
pub fn laplace_epsilon(scale: f64, sensitivity: &Sensitivity) -> Result<f64> {
    laplace_vector(scale)?
        .map(&sensitivity.total)
        .map_err(dp("Laplace privacy map"))
}

/// The smallest scale whose Laplace mechanism spends at most `epsilon` on
/// `sensitivity`: `total / epsilon`, moved up to the next float when
/// OpenDP's (conservatively rounded) privacy map says it spends more.
pub fn laplace_scale(epsilon: f64, sensitivity: &Sensitivity) -> Result<f64> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(Error::Usage(format!(
            "epsilon must be a positive number, not {epsilon}"
        )));
    }
    let mut scale = sensitivity.total as f64 / epsilon;
    for _ in 0..64 {
        if laplace_epsilon(scale, sensitivity)? <= epsilon {
            return Ok(scale);
        }
        scale = scale.next_up();
    }
    Err(Error::Internal(format!(
        "no Laplace scale spends at most epsilon = {epsilon}"
    )))
}

/// `(epsilon, delta)` that partition selection with `scale` and `threshold`
/// spends on `sensitivity` (OpenDP's privacy map of `make_laplace_threshold`).
pub fn threshold_spend(
    scale: f64,
    threshold: i64,
    sensitivity: &Sensitivity,
) -> Result<(f64, f64)> {
    laplace_threshold(scale, threshold)?
        .map(&(sensitivity.groups, sensitivity.total, sensitivity.per_group))
        .map_err(dp("partition selection privacy map"))
}

/// The smallest threshold for which partition selection with `scale` spends
/// at most `delta` (searched with OpenDP's `binary_search`).
pub fn selection_threshold(scale: f64, delta: f64, sensitivity: &Sensitivity) -> Result<i64> {
    if !(delta.is_finite() && delta > 0.0 && delta < 1.0) {
        return Err(Error::Usage(format!(
            "delta must be a number between 0 and 1 (exclusive), not {delta}"
        )));
    }
    let passes = |t: &i64| threshold_spend(scale, *t, sensitivity).is_ok_and(|(_, d)| d <= delta);
    let upper = i64::MAX / 4;
    if !passes(&upper) {
        return Err(Error::Usage(format!(
            "no selection threshold reaches delta = {delta} with scale {scale}"
        )));
    }
    opendp::utilities::binary_search(passes, (sensitivity.per_group, upper))
        .map_err(dp("partition selection threshold"))
}
