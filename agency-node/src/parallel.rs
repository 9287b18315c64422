//! CPU work spread over the machine's cores with scoped threads: the bulk path's parsing
//! and keyed encodings, done before or beside the one writer the database allows.

/// Most threads [`map_parts`] starts.
const MOST_THREADS: usize = 8;

/// Below this many items, one thread does it all (starting threads costs more).
const LEAST_PER_THREAD: usize = 64;

/// Splits `items` into one contiguous part per core and maps each part on its own thread;
/// returns the parts' results in the order of the parts. One part (on the calling
/// thread) when there are few items or one core. A panic in a part is resumed here.
pub fn map_parts<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MOST_THREADS)
        .min(items.len() / LEAST_PER_THREAD)
        .max(1);
    if threads == 1 {
        return vec![f(items)];
    }
    let per_part = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(per_part)
            .map(|part| scope.spawn(move || f(part)))
            .collect();
        parts
            .into_iter()
            .map(|part| match part.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// [`map_parts`] for owned items mapped one by one, in order.
pub fn map_owned<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MOST_THREADS)
        .min(items.len() / LEAST_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let per_part = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(per_part).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(mapped) => out.extend(mapped),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Prepares each item and consumes it, in order: `consume` runs on the calling thread
/// while `prepare` works on the next item on another thread, so item k+1's preparation
/// overlaps item k's consumption (a chunk's CPU work beside the writing of the chunk
/// before). `prepare` learns whether it runs beside a consumption (`true`: keep to one
/// core, the other is the consumer's) or alone (the first item: every core). Stops at
/// the first error `consume` gives. A panic in `prepare` is resumed here.
pub fn pipeline<T, P, R, E>(
    items: Vec<T>,
    prepare: impl Fn(T, bool) -> P + Sync,
    mut consume: impl FnMut(P) -> Result<R, E>,
) -> Result<Vec<R>, E>
where
    T: Send,
    P: Send,
{
    let prepare = &prepare;
    std::thread::scope(|scope| {
        let mut out = Vec::with_capacity(items.len());
        let mut items = items.into_iter();
        let mut current = items.next().map(|first| prepare(first, false));
        while let Some(prepared) = current.take() {
            let next = items
                .next()
                .map(|next| scope.spawn(move || prepare(next, true)));
            out.push(consume(prepared)?);
            current = match next.map(|handle| handle.join()) {
                Some(Ok(ready)) => Some(ready),
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => None,
            };
        }
        Ok(out)
    })
}

/// [`map_owned`], or on the calling thread alone when `one_core` (beside other work).
pub fn map_owned_on<T, R, F>(one_core: bool, items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    if one_core {
        items.into_iter().map(f).collect()
    } else {
        map_owned(items, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_items_keep_their_order() {
        let items: Vec<u32> = (0..1_000).collect();
        let sums = map_parts(&items, |part| {
            part.iter().map(|&n| u64::from(n)).sum::<u64>()
        });
        assert_eq!(sums.iter().sum::<u64>(), 499_500);
        let doubled = map_owned(items.clone(), |n| n * 2);
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(map_owned(vec![7_u32], |n| n + 1), vec![8]);
        assert!(map_owned(Vec::<u32>::new(), |n| n).is_empty());
    }

    #[test]
    fn a_pipeline_consumes_in_order_each_item_with_its_own_preparation() {
        let items: Vec<u32> = (0..50).collect();
        let mut seen = Vec::new();
        let out: Result<Vec<u32>, ()> = pipeline(
            items,
            |n, beside| (n, n * 10, beside),
            |(n, prepared, beside)| {
                seen.push(n);
                assert_eq!(prepared, n * 10);
                assert_eq!(beside, n > 0, "only the first is prepared alone");
                Ok(prepared + 1)
            },
        );
        assert_eq!(
            out.unwrap(),
            (0..50).map(|n| n * 10 + 1).collect::<Vec<_>>()
        );
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        let stopped: Result<Vec<u32>, u32> = pipeline(
            (0..10).collect(),
            |n, _| n,
            |n| if n == 3 { Err(n) } else { Ok(n) },
        );
        assert_eq!(stopped, Err(3));
        let none: Result<Vec<u32>, ()> = pipeline(Vec::new(), |n: u32, _| n, Ok);
        assert!(none.unwrap().is_empty());
        assert_eq!(map_owned_on(true, vec![1, 2], |n| n + 1), vec![2, 3]);
    }
}
