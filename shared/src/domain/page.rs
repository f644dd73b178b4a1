//! Offset paging as Logto does it: `page` from 1, `page_size` default 20, at most 100.

use crate::error::Error;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

impl Default for Page {
    fn default() -> Self {
        Self { number: 1, size: DEFAULT_PAGE_SIZE }
    }
}

impl Page {
    /// Takes every value the query had for `page` and `page_size`. Like Logto: an empty value
    /// counts as absent; a repeated key, a non-number, zero, a negative or a size over 100 is
    /// `guard.invalid_pagination`. Fractions pass Logto's check; we round them down.
    pub fn parse(page: &[&str], page_size: &[&str]) -> Result<Self, Error> {
        let number = parse_positive(page)?.unwrap_or(1);
        let size = parse_positive(page_size)?.unwrap_or(DEFAULT_PAGE_SIZE);
        if size > MAX_PAGE_SIZE {
            return Err(Error::InvalidPagination);
        }
        Ok(Self { number, size })
    }

    pub fn offset(&self) -> u64 {
        (self.number - 1).saturating_mul(self.size)
    }

    /// The last page for `total` items: never below 1.
    pub fn last(&self, total: u64) -> u64 {
        total.div_ceil(self.size).max(1)
    }
}

fn parse_positive(values: &[&str]) -> Result<Option<u64>, Error> {
    let values: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    match values.as_slice() {
        [] => Ok(None),
        [value] => {
            let number: f64 = value.trim().parse().map_err(|_| Error::InvalidPagination)?;
            if !number.is_finite() || number < 1.0 {
                return Err(Error::InvalidPagination);
            }
            Ok(Some(number.floor() as u64))
        }
        _ => Err(Error::InvalidPagination),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(Page::parse(&[], &[]).unwrap(), Page { number: 1, size: 20 });
        assert_eq!(Page::parse(&["3"], &["100"]).unwrap(), Page { number: 3, size: 100 });
        assert_eq!(Page::parse(&[""], &[""]).unwrap(), Page::default());
        for (page, size) in [("0", "20"), ("-1", "20"), ("x", "20"), ("1", "101"), ("1", "0"), ("1e309", "1")]
        {
            assert!(Page::parse(&[page], &[size]).is_err(), "{page} {size}");
        }
        assert!(Page::parse(&["1", "2"], &[]).is_err(), "a repeated key is invalid");
    }

    #[test]
    fn offsets_and_last_page() {
        let page = Page { number: 3, size: 20 };
        assert_eq!(page.offset(), 40);
        assert_eq!(page.last(0), 1);
        assert_eq!(page.last(41), 3);
        assert_eq!(page.last(40), 2);
    }
}
