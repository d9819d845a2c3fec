//! Field-level validation that reports every violation at once.
//!
//! Each [`Violation`] names the field by its path (`sub_orders[2].product_fee`),
//! the [`Rule`] it breaks and, unless the field is secret, the offending value.

use std::fmt;

/// A rule a field value breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// The field is required but missing or empty.
    Required,
    /// The value's length (in characters) is outside `min..=max`.
    Length {
        /// Smallest accepted length.
        min: usize,
        /// Largest accepted length.
        max: usize,
        /// Length found.
        actual: usize,
    },
    /// The value contains a character outside the allowed set.
    Charset {
        /// Human-readable description of the allowed characters.
        allowed: &'static str,
    },
    /// The value does not have the expected format.
    Format {
        /// What the format should be.
        expected: &'static str,
    },
    /// A money amount is malformed or out of range.
    Amount {
        /// What is wrong with it.
        reason: String,
    },
    /// The value is not one of the accepted values.
    OneOf {
        /// The accepted values.
        allowed: &'static [&'static str],
    },
    /// Any other rule, described in words.
    Other {
        /// The rule, stated so that the fix is obvious.
        rule: String,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => f.write_str("is required"),
            Rule::Length { min, max, actual } if min == max => {
                write!(f, "must be exactly {min} characters long (got {actual})")
            }
            Rule::Length { min, max, actual } => {
                write!(f, "must be {min} to {max} characters long (got {actual})")
            }
            Rule::Charset { allowed } => write!(f, "may contain only {allowed}"),
            Rule::Format { expected } => write!(f, "must be {expected}"),
            Rule::Amount { reason } => write!(f, "is not a valid amount: {reason}"),
            Rule::OneOf { allowed } => write!(f, "must be one of {}", allowed.join(", ")),
            Rule::Other { rule } => f.write_str(rule),
        }
    }
}

/// One broken rule on one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, e.g. `sub_orders[2].product_fee`.
    pub field: String,
    /// The rule broken.
    pub rule: Rule,
    /// The offending value; `None` for secret fields or missing values.
    pub value: Option<String>,
}

impl Violation {
    /// A violation of `rule` by `value` in `field`.
    pub fn new(field: impl Into<String>, rule: Rule, value: Option<String>) -> Self {
        Self { field: field.into(), rule, value }
    }

    /// The same violation under a parent path: `sub_order_no` → `sub_orders[2].sub_order_no`.
    #[must_use]
    pub fn under(mut self, parent: &str) -> Self {
        if !parent.is_empty() {
            self.field = if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        }
        self
    }

    /// The same violation with the field renamed (used when a shared type is
    /// validated under a provider's field name).
    #[must_use]
    pub fn renamed(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.rule)?;
        if let Some(v) = &self.value {
            write!(f, " (value: {v:?})")?;
        }
        Ok(())
    }
}

/// Every violation found in one input. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    violations: Vec<Violation>,
}

impl ValidationError {
    /// An error holding these violations (at least one).
    pub fn new(violations: Vec<Violation>) -> Self {
        debug_assert!(!violations.is_empty());
        Self { violations }
    }

    /// An error with a single violation.
    pub fn single(v: Violation) -> Self {
        Self { violations: vec![v] }
    }

    /// All violations, in the order the fields were checked.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// The violations of one field path.
    pub fn field(&self, path: &str) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(move |v| v.field == path)
    }

    /// Whether some violation concerns the field `path`.
    pub fn has_field(&self, path: &str) -> bool {
        self.field(path).next().is_some()
    }

    /// Every field path named, in order.
    pub fn fields(&self) -> Vec<&str> {
        self.violations.iter().map(|v| v.field.as_str()).collect()
    }

    /// The same violations under a parent path.
    #[must_use]
    pub fn under(self, parent: &str) -> Self {
        Self { violations: self.violations.into_iter().map(|v| v.under(parent)).collect() }
    }

    /// Consumes the error, returning the violations.
    pub fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.violations.len();
        write!(f, "invalid input, nothing was sent; fix {n} field{}: ", if n == 1 { "" } else { "s" })?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

impl From<Violation> for ValidationError {
    fn from(v: Violation) -> Self {
        Self::single(v)
    }
}

/// Collects violations while checking many fields, so that all are reported at once.
///
/// ```
/// use customs_core::validation::Violations;
/// use customs_core::OutTradeNo;
/// let mut v = Violations::new();
/// let a: Option<OutTradeNo> = v.parse("out_trade_no", "ok-123");
/// let b: Option<OutTradeNo> = v.parse("other_no", "has space");
/// assert!(a.is_some() && b.is_none());
/// let err = v.finish().unwrap_err();
/// assert_eq!(err.fields(), ["other_no"]);
/// ```
#[derive(Debug, Default)]
pub struct Violations {
    list: Vec<Violation>,
}

impl Violations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation.
    pub fn push(&mut self, v: Violation) {
        self.list.push(v);
    }

    /// Records every violation of `err`.
    pub fn extend(&mut self, err: ValidationError) {
        self.list.extend(err.violations);
    }

    /// Records the violations of `err` under the parent path `parent`.
    pub fn extend_under(&mut self, parent: &str, err: ValidationError) {
        self.list.extend(err.violations.into_iter().map(|v| v.under(parent)));
    }

    /// Keeps the `Ok` value; records the error's violations renamed to `field`.
    pub fn take<T>(&mut self, field: &str, r: Result<T, ValidationError>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(e) => {
                self.list.extend(e.violations.into_iter().map(|v| v.renamed(field)));
                None
            }
        }
    }

    /// Parses `raw` as `T`, recording any violation under `field`.
    pub fn parse<T>(&mut self, field: &str, raw: &str) -> Option<T>
    where
        T: std::str::FromStr<Err = ValidationError>,
    {
        self.take(field, raw.parse())
    }

    /// Parses an optional field: `None` or empty stays `None`.
    pub fn parse_opt<T>(&mut self, field: &str, raw: Option<&str>) -> Option<T>
    where
        T: std::str::FromStr<Err = ValidationError>,
    {
        match raw {
            None | Some("") => None,
            Some(raw) => self.parse(field, raw),
        }
    }

    /// Requires `value` to be present, recording [`Rule::Required`] otherwise.
    pub fn require<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.push(Violation::new(field, Rule::Required, None));
        }
        value
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else every violation.
    pub fn finish(self) -> Result<(), ValidationError> {
        if self.list.is_empty() { Ok(()) } else { Err(ValidationError { violations: self.list }) }
    }

    /// `Ok(value())` when nothing was recorded, else every violation.
    ///
    /// `value` runs only when every field was valid, so it may unwrap the
    /// `Option`s returned by [`parse`](Self::parse).
    pub fn finish_with<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationError> {
        self.finish().map(|()| value())
    }
}

/// Checks a string's length in characters.
pub fn check_length(field: &str, value: &str, min: usize, max: usize) -> Result<(), Violation> {
    let actual = value.chars().count();
    if actual == 0 && min > 0 {
        return Err(Violation::new(field, Rule::Required, None));
    }
    if actual < min || actual > max {
        return Err(Violation::new(field, Rule::Length { min, max, actual }, Some(value.to_owned())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_violation_with_path_rule_and_value() {
        let err = ValidationError::new(vec![
            Violation::new("out_trade_no", Rule::Required, None),
            Violation::new(
                "sub_orders[2].sub_order_no",
                Rule::Length { min: 1, max: 32, actual: 40 },
                Some("x".repeat(40)),
            ),
        ]);
        let s = err.to_string();
        assert!(s.starts_with("invalid input, nothing was sent; fix 2 fields"), "{s}");
        assert!(s.contains("`out_trade_no` is required"), "{s}");
        assert!(s.contains("`sub_orders[2].sub_order_no` must be 1 to 32 characters long (got 40)"), "{s}");
    }

    #[test]
    fn under_prefixes_paths() {
        let v = Violation::new("product_fee", Rule::Required, None).under("sub_orders[3]");
        assert_eq!(v.field, "sub_orders[3].product_fee");
        let v = Violation::new("", Rule::Required, None).under("sub_orders");
        assert_eq!(v.field, "sub_orders");
    }

    #[test]
    fn collector_reports_all_and_require() {
        let mut v = Violations::new();
        let x: Option<u8> = v.require("a", None);
        assert!(x.is_none());
        v.push(Violation::new("b", Rule::Other { rule: "must be odd".into() }, Some("2".into())));
        let err = v.finish().unwrap_err();
        assert_eq!(err.fields(), ["a", "b"]);
        assert_eq!(err.field("b").next().unwrap().rule.to_string(), "must be odd");
    }

    #[test]
    fn check_length_counts_characters() {
        assert!(check_length("f", "关税", 1, 2).is_ok());
        let e = check_length("f", "", 1, 2).unwrap_err();
        assert_eq!(e.rule, Rule::Required);
        let e = check_length("f", "abc", 1, 2).unwrap_err();
        assert_eq!(e.rule, Rule::Length { min: 1, max: 2, actual: 3 });
    }
}
