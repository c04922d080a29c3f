//! The plans `EXPLAIN` returns for statements that read masked columns: their row widths
//! hidden.
//!
//! The planner's `width` of a row is the average width of its columns' values, from the
//! column statistics (`pg_stats.avg_width`) once the table was analyzed: of a masked column, its
//! average length, and on a table of one row (or values of one length) the exact length of
//! every value (red-team round 97: `EXPLAIN SELECT email FROM customers` showed `width=18`
//! without a review, where reading `pg_stats` is held). A plan of a statement that reads a
//! masked column shows every width as 0, in every format (`width=18`, `"Plan Width": 18`,
//! `Plan Width: 18`, `<Plan-Width>18</Plan-Width>`), so that it still parses; costs and row
//! estimates stay (a filter by a masked column, which makes the estimates follow its values, is
//! held for review before it runs).

/// The label PostgreSQL gives the one column of an `EXPLAIN` result.
pub const PLAN_COLUMN: &str = "QUERY PLAN";

/// What precedes a width's digits in each output format.
const WIDTH_MARKS: &[&[u8]] = &[b"width=", b"\"Plan Width\": ", b"Plan Width: ", b"<Plan-Width>"];

/// `plan` (a line or a document of a plan) with the digits of every width replaced by `0`;
/// `None` when it shows no width.
pub fn widths_hidden(plan: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(plan.len());
    let mut i = 0;
    let mut changed = false;
    while i < plan.len() {
        let rest = plan.get(i..).unwrap_or_default();
        if let Some(mark) = WIDTH_MARKS.iter().find(|m| rest.starts_with(m)) {
            out.extend_from_slice(mark);
            i += mark.len();
            let digits = plan.get(i..).unwrap_or_default().iter().take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                out.push(b'0');
                i += digits;
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
    fn widths_are_hidden_in_every_format() {
        let hide = |s: &str| widths_hidden(s.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(hide("Seq Scan on customers  (cost=0.00..1.04 rows=4 width=18)").unwrap(), "Seq Scan on customers  (cost=0.00..1.04 rows=4 width=0)");
        assert_eq!(hide("[{\"Plan\": {\"Plan Rows\": 4, \"Plan Width\": 31}}]").unwrap(), "[{\"Plan\": {\"Plan Rows\": 4, \"Plan Width\": 0}}]");
        assert_eq!(hide("    Plan Width: 18\n    Plan Width: 4").unwrap(), "    Plan Width: 0\n    Plan Width: 0");
        assert_eq!(hide("<Plan-Width>12</Plan-Width>").unwrap(), "<Plan-Width>0</Plan-Width>");
        assert_eq!(hide("  Output: email, ssn"), None);
        assert_eq!(hide("width=x"), None);
    }
}
