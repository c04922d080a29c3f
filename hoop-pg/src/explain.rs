//! The plans `EXPLAIN` returns for statements that read masked columns: their row widths and
//! costs hidden.
//!
//! The planner's `width` of a row is the average width of its columns' values, from the
//! column statistics (`pg_stats.avg_width`) once the table was analyzed: of a masked column, its
//! average length, and on a table of one row (or values of one length) the exact length of
//! every value (red-team round 97: `EXPLAIN SELECT email FROM customers` showed `width=18`
//! without a review, where reading `pg_stats` is held). Costs follow widths too: a Sort that
//! would spill past `work_mem` costs by the bytes of its rows, so padding the target list with
//! constant columns until its cost jumps by a step of 8 bytes gave the same average length
//! (red-team round 98). A plan of a statement that reads a masked column shows every width as
//! 0 and every cost as 0.00, in every format (`cost=0.00..0.00 … width=0`, `"Total Cost":
//! 0.00`, `Plan Width: 0`, `<Plan-Width>0</Plan-Width>`), so that it still parses; its shape
//! and row estimates stay (a filter by a masked column, which makes the estimates follow its
//! values, is held for review before it runs).

/// The label PostgreSQL gives the one column of an `EXPLAIN` result.
pub const PLAN_COLUMN: &str = "QUERY PLAN";

/// What precedes a width's digits in each output format.
const WIDTH_MARKS: &[&[u8]] = &[b"width=", b"\"Plan Width\": ", b"Plan Width: ", b"<Plan-Width>"];

/// What precedes a cost in each output format (the text format's `cost=` is followed by two,
/// `startup..total`).
const COST_MARKS: &[&[u8]] = &[
    b"cost=",
    b"\"Startup Cost\": ",
    b"\"Total Cost\": ",
    b"Startup Cost: ",
    b"Total Cost: ",
    b"<Startup-Cost>",
    b"<Total-Cost>",
];

/// `plan` (a line or a document of a plan) with every width replaced by `0` and every cost by
/// `0.00`; `None` when it shows neither.
pub fn sizes_hidden(plan: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(plan.len());
    let mut i = 0;
    let mut changed = false;
    while i < plan.len() {
        let rest = plan.get(i..).unwrap_or_default();
        let (mark, is_cost) = match WIDTH_MARKS.iter().find(|m| rest.starts_with(m)) {
            Some(m) => (Some(*m), false),
            None => (COST_MARKS.iter().find(|m| rest.starts_with(m)).copied(), true),
        };
        if let Some(mark) = mark {
            out.extend_from_slice(mark);
            i += mark.len();
            let value = plan.get(i..).unwrap_or_default();
            let len = value.iter().take_while(|b| b.is_ascii_digit() || (is_cost && **b == b'.')).count();
            if len > 0 {
                let replacement: &[u8] = match (is_cost, value.get(..len).is_some_and(|v| v.windows(2).any(|w| w == b".."))) {
                    (false, _) => b"0",
                    (true, false) => b"0.00",
                    (true, true) => b"0.00..0.00",
                };
                out.extend_from_slice(replacement);
                i += len;
                changed = true;
            }
            continue;
        }
        out.extend(plan.get(i).copied());
        i += 1;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_costs_are_hidden_in_every_format() {
        let hide = |s: &str| sizes_hidden(s.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(hide("Seq Scan on customers  (cost=0.00..1.04 rows=4 width=18)").unwrap(), "Seq Scan on customers  (cost=0.00..0.00 rows=4 width=0)");
        assert_eq!(hide("Sort  (cost=76036.33..76286.33 rows=100000 width=26)").unwrap(), "Sort  (cost=0.00..0.00 rows=100000 width=0)");
        assert_eq!(
            hide("[{\"Plan\": {\"Startup Cost\": 76036.33, \"Total Cost\": 81510.33, \"Plan Rows\": 4, \"Plan Width\": 31}}]").unwrap(),
            "[{\"Plan\": {\"Startup Cost\": 0.00, \"Total Cost\": 0.00, \"Plan Rows\": 4, \"Plan Width\": 0}}]"
        );
        assert_eq!(hide("    Startup Cost: 1.5\n    Total Cost: 2\n    Plan Width: 18\n    Plan Width: 4").unwrap(), "    Startup Cost: 0.00\n    Total Cost: 0.00\n    Plan Width: 0\n    Plan Width: 0");
        assert_eq!(hide("<Total-Cost>9.25</Total-Cost><Plan-Width>12</Plan-Width>").unwrap(), "<Total-Cost>0.00</Total-Cost><Plan-Width>0</Plan-Width>");
        assert_eq!(hide("  Output: email, ssn"), None);
        assert_eq!(hide("width=x"), None);
    }
}
