//! Did an action make a difference? A difference-in-differences estimate of the change
//! in a daily metric of the target theme(s) after an action, corrected for what
//! happened anyway by control themes the action did not target.
//!
//! Method (docs/measuring-effect.md explains it for non-statisticians):
//!
//! 1. Per day `d`, the log ratio `r_d = ln((target_d + ½) / (control_d + ½))`. Whatever
//!    moves target and control alike — the season, a holiday, a news item, growth of
//!    the site — cancels in the ratio.
//! 2. The days are cut into whole weeks counted back from the action's start (the
//!    weeks before) and forward from it (the weeks after). Each week holds every
//!    weekday once, so the weekday pattern of target and control cancels too; the
//!    week's mean `R_w` of `r_d` is one observation.
//! 3. The effect on the log scale is `δ = mean(R after) − mean(R before)`, tested with
//!    Welch's two-sample t-test on the weekly means: an interval and a p-value that
//!    stay honest when days within a week are correlated and when the weeks after vary
//!    more than those before. When the weeks before are positively autocorrelated
//!    (interest drifting slowly), the variances are widened by `(1 + ρ) / (1 − ρ)`.
//! 4. The change in percent is `e^δ − 1` (interval likewise); the absolute change is
//!    what the target had after the start minus what it would have had without the
//!    change (`target after / e^δ`).
//!
//! Too few weeks (fewer than 3 before or 2 after) or too little traffic (fewer than 5
//! a day on average in the target, or no control) gives no number, only the reason.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};
use utoipa::ToSchema;

/// Fewest whole weeks before the action.
pub const MIN_WEEKS_BEFORE: usize = 3;
/// Fewest whole weeks after the start.
pub const MIN_WEEKS_AFTER: usize = 2;
/// Fewest events a day, on average, in the target series.
pub const MIN_DAILY_TARGET: f64 = 5.0;
/// The significance level of the verdict.
pub const ALPHA: f64 = 0.05;

/// The daily series an estimate is made from, oldest first: `weeks_before × 7` days
/// before the start, then `weeks_after × 7` days from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Daily {
    /// The metric of the target theme(s) per day (visitors, searches or contacts).
    pub target: Vec<f64>,
    /// The same metric of the control themes together.
    pub control: Vec<f64>,
    /// Per day, the log of target against control (step 1 of the method).
    pub log_ratio: Vec<f64>,
    /// Whole weeks before the start.
    pub weeks_before: usize,
    /// Whole weeks from the start.
    pub weeks_after: usize,
}

impl Daily {
    /// For a count (visitors, searches, contacts): `ln((target + ½) / (control + ½))`.
    pub fn from_counts(target: Vec<f64>, control: Vec<f64>, before: usize, after: usize) -> Self {
        let log_ratio = target
            .iter()
            .zip(&control)
            .map(|(t, c)| ((t + 0.5) / (c + 0.5)).ln())
            .collect();
        Self {
            target,
            control,
            log_ratio,
            weeks_before: before,
            weeks_after: after,
        }
    }

    /// For contact conversion: the log of the target's conversion (contacts per
    /// visit) against the control's; `target` and `control` hold the contacts.
    pub fn from_conversion(
        (contacts_t, visits_t): (Vec<f64>, Vec<f64>),
        (contacts_c, visits_c): (Vec<f64>, Vec<f64>),
        before: usize,
        after: usize,
    ) -> Self {
        let conv = |c: f64, v: f64| ((c + 0.5) / (v + 1.0)).ln();
        let log_ratio = (0..contacts_t.len())
            .map(|d| conv(contacts_t[d], visits_t[d]) - conv(contacts_c[d], visits_c[d]))
            .collect();
        Self {
            target: contacts_t,
            control: contacts_c,
            log_ratio,
            weeks_before: before,
            weeks_after: after,
        }
    }
}

/// The estimated effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    /// Change in percent against what would have happened without the action.
    pub change_pct: f64,
    /// 95% interval of the change in percent, low.
    pub ci95_low_pct: f64,
    /// 95% interval of the change in percent, high.
    pub ci95_high_pct: f64,
    /// Two-sided p-value: the chance of a difference at least this large if the
    /// action changed nothing.
    pub p_value: f64,
    /// Whether `p_value < 0.05`.
    pub significant: bool,
    /// The target's total in the weeks after the start.
    pub target_after: f64,
    /// What the target would have had in those weeks without the change.
    pub expected_without_action: f64,
    /// `target_after − expected_without_action`.
    pub absolute_change: f64,
    /// The effect on the log scale (δ) and its standard error.
    pub log_effect: f64,
    /// Standard error of `log_effect`.
    pub log_effect_se: f64,
    /// Degrees of freedom of the t-test (Welch–Satterthwaite).
    pub degrees_of_freedom: f64,
}

/// One week of the data used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Week {
    /// Weeks from the start: −1 is the week just before, 0 the first week after.
    pub offset: i32,
    /// The target's total.
    pub target: f64,
    /// The control's total.
    pub control: f64,
    /// Mean daily log ratio.
    pub log_ratio: f64,
}

/// Why no estimate was made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotEnough {
    /// Fewer whole weeks than needed.
    #[error("too little data: {before} whole weeks before the action and {after} after its start are available; at least {MIN_WEEKS_BEFORE} before and {MIN_WEEKS_AFTER} after are needed")]
    Weeks {
        /// Weeks before.
        before: usize,
        /// Weeks after.
        after: usize,
    },
    /// The target series is too thin.
    #[error("too little data: the target had {0:.1} a day on average; at least 5 are needed for an estimate")]
    Traffic(f64),
    /// No control themes had traffic.
    #[error("too little data: the control themes had no traffic in this period")]
    NoControl,
}

/// The weekly means and the estimate.
pub fn estimate(d: &Daily) -> Result<(Estimate, Vec<Week>), NotEnough> {
    if d.weeks_before < MIN_WEEKS_BEFORE || d.weeks_after < MIN_WEEKS_AFTER {
        return Err(NotEnough::Weeks {
            before: d.weeks_before,
            after: d.weeks_after,
        });
    }
    let days = 7 * (d.weeks_before + d.weeks_after);
    debug_assert_eq!(d.target.len(), days);
    let mean_target = d.target.iter().sum::<f64>() / days as f64;
    if mean_target < MIN_DAILY_TARGET {
        return Err(NotEnough::Traffic(mean_target));
    }
    if d.control.iter().sum::<f64>() <= 0.0 {
        return Err(NotEnough::NoControl);
    }
    let weeks: Vec<Week> = (0..d.weeks_before + d.weeks_after)
        .map(|w| {
            let range = w * 7..w * 7 + 7;
            let t = &d.target[range.clone()];
            let c = &d.control[range.clone()];
            let log_ratio = d.log_ratio[range].iter().sum::<f64>() / 7.0;
            Week {
                offset: w as i32 - d.weeks_before as i32,
                target: t.iter().sum(),
                control: c.iter().sum(),
                log_ratio,
            }
        })
        .collect();
    let (before, after) = weeks.split_at(d.weeks_before);
    let mean = |ws: &[Week]| ws.iter().map(|w| w.log_ratio).sum::<f64>() / ws.len() as f64;
    let (m0, m1) = (mean(before), mean(after));
    // Welch's t-test: the weeks after may vary more than those before (a campaign
    // adds its own ups and downs), so the variances are not pooled.
    let var = |ws: &[Week], m: f64| {
        ws.iter().map(|w| (w.log_ratio - m).powi(2)).sum::<f64>() / (ws.len() - 1) as f64
    };
    // Weeks of real traffic are not independent: a slow drift in the interest for a
    // theme makes neighbouring weeks alike, and a test that ignores that finds
    // "effects" too often. The lag-1 autocorrelation of the weeks before (0 when
    // negative) widens the variances by (1 + ρ) / (1 − ρ), the usual effective-sample-
    // size correction.
    let rho = lag1_autocorrelation(before, m0).clamp(0.0, 0.9);
    let inflation = (1.0 + rho) / (1.0 - rho);
    let (a, b) = (
        inflation * var(before, m0) / before.len() as f64,
        inflation * var(after, m1) / after.len() as f64,
    );
    let se = (a + b).sqrt().max(1e-9);
    let df = ((a + b).powi(2)
        / (a.powi(2) / (before.len() - 1) as f64 + b.powi(2) / (after.len() - 1) as f64))
        .max(1.0);
    let delta = m1 - m0;
    let t_dist = StudentsT::new(0.0, 1.0, df).map_err(|_| NotEnough::Weeks {
        before: d.weeks_before,
        after: d.weeks_after,
    })?;
    let p_value = 2.0 * (1.0 - t_dist.cdf((delta / se).abs()));
    let q = t_dist.inverse_cdf(1.0 - ALPHA / 2.0);
    let pct = |x: f64| round1((x.exp() - 1.0) * 100.0);
    let target_after: f64 = after.iter().map(|w| w.target).sum();
    let expected = target_after / delta.exp();
    Ok((
        Estimate {
            change_pct: pct(delta),
            ci95_low_pct: pct(delta - q * se),
            ci95_high_pct: pct(delta + q * se),
            p_value: (p_value * 10_000.0).round() / 10_000.0,
            significant: p_value < ALPHA,
            target_after,
            expected_without_action: round1(expected),
            absolute_change: round1(target_after - expected),
            log_effect: delta,
            log_effect_se: se,
            degrees_of_freedom: round1(df),
        },
        weeks,
    ))
}

fn lag1_autocorrelation(weeks: &[Week], mean: f64) -> f64 {
    let dev: Vec<f64> = weeks.iter().map(|w| w.log_ratio - mean).collect();
    let denominator: f64 = dev.iter().map(|d| d * d).sum();
    if denominator <= 0.0 {
        return 0.0;
    }
    dev.windows(2).map(|p| p[0] * p[1]).sum::<f64>() / denominator
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The sentence for a communications adviser, e.g. "+18% visitors to schulden pages
/// (95% interval +6% to +31%); unlikely to be chance".
pub fn sentence(e: &Estimate, what: &str) -> String {
    let signed = |v: f64| format!("{}{:.0}%", if v >= 0.0 { "+" } else { "−" }, v.abs());
    let verdict = if e.significant {
        "unlikely to be chance"
    } else {
        "within normal week-to-week variation"
    };
    format!(
        "{} {what} (95% interval {} to {}); {verdict}",
        signed(e.change_pct),
        signed(e.ci95_low_pct),
        signed(e.ci95_high_pct)
    )
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Gamma, Poisson};

    use super::*;

    /// Weeks before and after the start in the simulations: the API's defaults.
    const BEFORE: usize = 12;
    const AFTER: usize = 6;

    /// Simulated daily traffic of a mid-sized municipality (about 100,000 residents):
    /// the target theme gets `target_per_day` visitors on an average day; the control
    /// is the sum of 8 other themes with 3 times as many each. All follow the same
    /// weekday pattern, a slow seasonal swing and shared news shocks (3% of days,
    /// +50%); every theme also has its own week-to-week wobble (gamma, 8%) and Poisson
    /// counting noise. From the start the target is multiplied by `lift`.
    fn simulate(
        rng: &mut StdRng,
        target_per_day: f64,
        lift: f64,
        before: usize,
        after: usize,
    ) -> Daily {
        const CONTROLS: usize = 8;
        let weekday = [1.25, 1.2, 1.15, 1.1, 1.0, 0.6, 0.7];
        let wobble =
            Gamma::new(1.0 / 0.08f64.powi(2), 0.08f64.powi(2)).unwrap_or_else(|e| panic!("{e}"));
        let days = 7 * (before + after);
        let mut target = Vec::with_capacity(days);
        let mut control = Vec::with_capacity(days);
        let mut w = [1.0; CONTROLS + 1];
        let phase: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        let draw =
            |rng: &mut StdRng, mean: f64| Poisson::new(mean).map(|p| p.sample(rng)).unwrap_or(0.0);
        for d in 0..days {
            if d % 7 == 0 {
                w.iter_mut().for_each(|x| *x = wobble.sample(rng));
            }
            let season = 1.0 + 0.2 * ((d as f64 / 58.0) + phase).sin();
            let shock = if rng.random_bool(0.03) { 1.5 } else { 1.0 };
            let common = weekday[d % 7] * season * shock;
            let l = if d >= 7 * before { lift } else { 1.0 };
            target.push(draw(rng, target_per_day * common * w[0] * l));
            let c: f64 = (1..=CONTROLS)
                .map(|i| draw(rng, 3.0 * target_per_day * common * w[i]))
                .sum();
            control.push(c);
        }
        Daily::from_counts(target, control, before, after)
    }

    /// Share of `runs` simulations (fixed seeds) in which the estimate is significant.
    fn rejection_rate(runs: u64, lift: f64, target_per_day: f64) -> (f64, f64) {
        let mut significant = 0;
        let mut sum_change = 0.0;
        for seed in 0..runs {
            let mut rng = StdRng::seed_from_u64(seed);
            let d = simulate(&mut rng, target_per_day, lift, BEFORE, AFTER);
            let (e, _) = estimate(&d).unwrap_or_else(|e| panic!("{e}"));
            significant += usize::from(e.significant);
            sum_change += e.change_pct;
        }
        (significant as f64 / runs as f64, sum_change / runs as f64)
    }

    #[test]
    fn without_an_effect_at_most_five_percent_of_runs_are_significant() {
        let (rate, mean_change) = rejection_rate(2000, 1.0, 60.0);
        println!(
            "no effect (12 weeks before, 6 after, 60 target visitors a day): significant in {:.1}% of 2000 simulated runs (nominal 5%); mean estimated change {mean_change:+.2}%",
            rate * 100.0
        );
        assert!(rate <= 0.05, "false-positive rate {rate}");
        assert!(mean_change.abs() < 2.0, "biased: {mean_change}");
    }

    #[test]
    fn a_twenty_percent_effect_is_found_in_at_least_eighty_percent_of_runs() {
        let (power, mean_change) = rejection_rate(1000, 1.2, 60.0);
        println!(
            "+20% effect (12 weeks before, 6 after, 60 target visitors a day): found in {:.1}% of 1000 simulated runs; mean estimated change {mean_change:+.1}%",
            power * 100.0
        );
        assert!(power >= 0.8, "power {power}");
        assert!((mean_change - 20.0).abs() < 2.0, "biased: {mean_change}");
    }

    #[test]
    fn the_interval_covers_the_true_effect_in_about_95_percent_of_runs() {
        let runs = 1000;
        let mut covered = 0;
        for seed in 10_000..10_000 + runs {
            let mut rng = StdRng::seed_from_u64(seed);
            let (e, _) =
                estimate(&simulate(&mut rng, 60.0, 1.2, 8, 4)).unwrap_or_else(|e| panic!("{e}"));
            covered += usize::from(e.ci95_low_pct <= 20.0 && 20.0 <= e.ci95_high_pct);
        }
        let coverage = covered as f64 / runs as f64;
        println!(
            "95% interval covered the true +20% in {:.1}% of runs",
            coverage * 100.0
        );
        assert!((0.93..=0.975).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn too_little_data_gives_a_reason_not_a_number() {
        let mut rng = StdRng::seed_from_u64(1);
        let d = simulate(&mut rng, 60.0, 1.0, 2, 4);
        assert!(estimate(&d)
            .unwrap_err()
            .to_string()
            .contains("at least 3 before"));
        let d = simulate(&mut rng, 60.0, 1.0, 8, 1);
        assert!(estimate(&d).unwrap_err().to_string().contains("2 after"));
        let d = simulate(&mut rng, 2.0, 1.0, 8, 4);
        assert!(estimate(&d)
            .unwrap_err()
            .to_string()
            .contains("a day on average"));
        let mut d = simulate(&mut rng, 60.0, 1.0, 8, 4);
        d.control.iter_mut().for_each(|c| *c = 0.0);
        assert_eq!(estimate(&d).unwrap_err(), NotEnough::NoControl);
    }

    #[test]
    fn the_sentence_says_what_changed_and_whether_it_is_chance() {
        let mut rng = StdRng::seed_from_u64(7);
        let (e, weeks) =
            estimate(&simulate(&mut rng, 200.0, 1.3, 8, 4)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(weeks.len(), 12);
        assert_eq!((weeks[0].offset, weeks[8].offset), (-8, 0));
        let s = sentence(&e, "visitors to schulden pages");
        assert!(
            s.starts_with('+') && s.ends_with("unlikely to be chance"),
            "{s}"
        );
        assert!((e.absolute_change - (e.target_after - e.expected_without_action)).abs() < 0.2);
        let flat = Estimate {
            change_pct: -2.0,
            ci95_low_pct: -9.0,
            ci95_high_pct: 6.0,
            significant: false,
            ..e
        };
        assert_eq!(
            sentence(&flat, "searches about armoede"),
            "−2% searches about armoede (95% interval −9% to +6%); within normal week-to-week variation"
        );
    }
}
