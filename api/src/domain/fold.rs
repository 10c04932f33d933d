//! The k rule for lists: a row seen by fewer than k distinct visitors is not shown by its
//! value but added into one `other` row, so that what is listed and `other` still add
//! up to the whole (nothing is dropped silently).

/// The rows (in the caller's order) with at least `k` visitors, at most `limit` of
/// them, and the rows below `k` added into `other` by `add` (absent when none was).
/// Rows of at least `k` visitors past the limit are cut, not folded: the caller asked
/// for a shorter list.
pub(crate) fn below_k<T>(
    rows: impl IntoIterator<Item = T>,
    k: u32,
    limit: u32,
    visitors: impl Fn(&T) -> u64,
    mut add: impl FnMut(&mut T, &T),
    mut other: T,
) -> (Vec<T>, Option<T>) {
    let mut listed = Vec::new();
    let mut folded = false;
    for row in rows {
        if visitors(&row) < u64::from(k) {
            add(&mut other, &row);
            folded = true;
        } else if listed.len() < limit as usize {
            listed.push(row);
        }
    }
    (listed, folded.then_some(other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_below_k_are_added_into_other_and_the_list_is_cut_to_its_limit() {
        // (visitors, count)
        let rows = [(9, 90), (2, 20), (7, 70), (5, 50), (1, 10)];
        let (listed, other) = below_k(rows, 5, 2, |r| r.0, |o, r| o.1 += r.1, (0, 0));
        assert_eq!(listed, [(9, 90), (7, 70)], "(5, 50) is cut by the limit");
        assert_eq!(other, Some((0, 30)));
        let (listed, other) = below_k(rows, 1, 10, |r| r.0, |o, r| o.1 += r.1, (0, 0));
        assert_eq!((listed.len(), other), (5, None));
    }
}
