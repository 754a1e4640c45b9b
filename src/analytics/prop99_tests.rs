//! California's Proposition 99 (1988 tobacco tax, effective 1989): per-capita
//! cigarette sales for California and 38 control states, 1970-2000
//! (Abadie, Diamond & Hainmueller 2010, JASA 105(490); the series come from
//! the Tax Burden on Tobacco compiled by Orzechowski & Walker). The wide file
//! has a Year column then one column per state.

use super::did::did_2x2;
use super::panel::Panel;
use super::staggered::{staggered_did, ControlGroup, StaggeredOptions};
use super::warnings::WarningKind;

struct Wide {
    years: Vec<i64>,
    states: Vec<String>,
    /// One series per state, aligned with `years`.
    series: Vec<Vec<f64>>,
}

fn load() -> Wide {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/california_prop99.csv"
    );
    let mut rdr =
        csv::Reader::from_path(path).expect("tests/data/california_prop99.csv is present");
    let headers = rdr.headers().unwrap().clone();
    let states: Vec<String> = headers.iter().skip(1).map(str::to_owned).collect();
    let mut years = Vec::new();
    let mut series = vec![Vec::new(); states.len()];
    for rec in rdr.records() {
        let rec = rec.unwrap();
        years.push(rec[0].parse::<i64>().unwrap());
        for (j, s) in series.iter_mut().enumerate() {
            s.push(rec[j + 1].parse::<f64>().unwrap());
        }
    }
    Wide {
        years,
        states,
        series,
    }
}

fn split(w: &Wide) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let mut treated = Vec::new();
    let mut controls = Vec::new();
    for (s, name) in w.states.iter().enumerate() {
        if name == "California" {
            treated.push(w.series[s].clone());
        } else {
            controls.push(w.series[s].clone());
        }
    }
    (treated, controls)
}

#[test]
fn prop99_two_by_two_did() {
    let w = load();
    assert_eq!(w.years.first(), Some(&1970));
    assert_eq!(w.years.last(), Some(&2000));
    let (treated, controls) = split(&w);
    assert_eq!(treated.len(), 1);
    assert_eq!(controls.len(), 38);
    let d = did_2x2(&w.years, &treated, &controls, 1989).unwrap();
    assert_eq!(d.n_pre_periods, 19);
    assert_eq!(d.n_post_periods, 12);
    assert!((d.did - (-27.34911)).abs() < 1e-4, "2x2 DiD = {}", d.did);
}

#[test]
fn prop99_staggered_simple_att_is_mean_of_post_att_gt() {
    let w = load();
    // Long panel: California first treated 1989, everyone else never.
    let t = w.years.len();
    let mut outcome = Vec::with_capacity(w.states.len() * t);
    let mut g = Vec::new();
    for (s, name) in w.states.iter().enumerate() {
        outcome.extend_from_slice(&w.series[s]);
        g.push(if name == "California" { 1989 } else { 0 });
    }
    let panel = Panel::new(w.states.clone(), w.years.clone(), g, outcome, None).unwrap();
    let out = staggered_did(&panel, &StaggeredOptions::default()).unwrap();

    // Independent computation straight from the wide data: for each post year,
    // (CA_t - CA_1988) - mean over controls of (Y_t - Y_1988).
    let (treated, controls) = split(&w);
    let base = w.years.iter().position(|&y| y == 1988).unwrap();
    let mut expected = Vec::new();
    for (k, &year) in w.years.iter().enumerate() {
        if year < 1989 {
            continue;
        }
        let ca = treated[0][k] - treated[0][base];
        let ctrl = controls.iter().map(|c| c[k] - c[base]).sum::<f64>() / controls.len() as f64;
        expected.push((year, ca - ctrl));
    }
    assert_eq!(expected.len(), 12);
    for (year, att) in &expected {
        let cell = out
            .result
            .att_gt
            .iter()
            .find(|c| c.group == 1989 && c.period == *year)
            .unwrap();
        assert!((cell.att - att).abs() < 1e-9, "ATT(1989,{year})");
    }
    let mean = expected.iter().map(|(_, a)| a).sum::<f64>() / expected.len() as f64;
    assert!((out.result.simple.att - mean).abs() < 1e-9);
    assert!((out.result.simple.att - (-17.9844)).abs() < 1e-3);
    // One cohort: the group and event-study summaries coincide with simple.
    assert!((out.result.group.att - mean).abs() < 1e-9);
    assert!((out.result.dynamic.att - mean).abs() < 1e-9);
    // Cells for every period after the first: 1971..2000.
    assert_eq!(out.result.att_gt.len(), 30);
    // And the pre-test exists (18 pre-periods 1971..1988).
    assert_eq!(out.result.pretest.as_ref().map(|p| p.df), Some(18));
    // One treated unit and one cohort deserve warnings.
    assert!(out
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::FewTreatedCohorts));
    assert!(out
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::TinyGroup));
    // Not-yet-treated controls are the same units here (nobody else is treated).
    let nyt = staggered_did(
        &panel,
        &StaggeredOptions {
            control_group: ControlGroup::NotYetTreated,
            cluster: false,
        },
    )
    .unwrap();
    assert_eq!(nyt.result, out.result);
}
