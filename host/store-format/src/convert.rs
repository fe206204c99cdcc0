//! Conversions between the stored types and the domain types, written from field and case
//! lists so that a field added on either side fails to compile here.

use std::collections::BTreeMap;

/// Converts a value into its counterpart (stored form <-> domain record).
pub trait Convert<T> {
    /// Performs the conversion.
    fn convert(self) -> T;
}

macro_rules! identity {
    ($($t:ty),*) => { $(impl Convert<$t> for $t { fn convert(self) -> $t { self } })* };
}
identity!(
    String,
    bool,
    u8,
    u16,
    u32,
    u64,
    i32,
    i64,
    f64,
    serde_json::Value
);

impl<A: Convert<B>, B> Convert<Vec<B>> for Vec<A> {
    fn convert(self) -> Vec<B> {
        self.into_iter().map(Convert::convert).collect()
    }
}

impl<A: Convert<B>, B> Convert<Option<B>> for Option<A> {
    fn convert(self) -> Option<B> {
        self.map(Convert::convert)
    }
}

impl<A: Convert<C>, B: Convert<D>, C, D> Convert<(C, D)> for (A, B) {
    fn convert(self) -> (C, D) {
        (self.0.convert(), self.1.convert())
    }
}

impl<K: Ord, A: Convert<B>, B> Convert<BTreeMap<K, B>> for BTreeMap<K, A> {
    fn convert(self) -> BTreeMap<K, B> {
        self.into_iter().map(|(k, v)| (k, v.convert())).collect()
    }
}

/// `Convert` both ways between a stored struct and a domain struct with the same fields.
macro_rules! record {
    ($stored:ident = $($domain:ident)::+ { $($field:ident),* $(,)? }) => {
        impl $crate::Convert<$($domain)::+> for $stored {
            fn convert(self) -> $($domain)::+ {
                $($domain)::+ { $($field: $crate::Convert::convert(self.$field)),* }
            }
        }
        impl $crate::Convert<$stored> for $($domain)::+ {
            fn convert(self) -> $stored {
                $stored { $($field: $crate::Convert::convert(self.$field)),* }
            }
        }
    };
}

/// `Convert` both ways between a stored enum and a domain enum with the same cases (unit,
/// one payload, or named fields).
macro_rules! variants {
    ($stored:ident = $($domain:ident)::+ {
        $($case:ident $(($payload:ident))? $({ $($field:ident),* $(,)? })?),* $(,)?
    }) => {
        impl $crate::Convert<$($domain)::+> for $stored {
            fn convert(self) -> $($domain)::+ {
                type Domain = $($domain)::+;
                match self {
                    $($stored::$case $(($payload))? $({ $($field),* })? =>
                        Domain::$case
                            $(($crate::Convert::convert($payload)))?
                            $({ $($field: $crate::Convert::convert($field)),* })?),*
                }
            }
        }
        impl $crate::Convert<$stored> for $($domain)::+ {
            fn convert(self) -> $stored {
                type Domain = $($domain)::+;
                match self {
                    $(Domain::$case $(($payload))? $({ $($field),* })? =>
                        $stored::$case
                            $(($crate::Convert::convert($payload)))?
                            $({ $($field: $crate::Convert::convert($field)),* })?),*
                }
            }
        }
    };
}

pub(crate) use {record, variants};
