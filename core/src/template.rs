//! `make_template` (catalogue L): a function whose variables are created on the first
//! call and reused on every later call.

use std::cell::{Cell, RefCell};
use std::panic::Location;

use crate::args::Reuse;
use crate::collections::GraphKeys;
use crate::enter::ScopeName;
use crate::getter::CustomGetter;

use crate::{Error, Graph, Result, VariableScope};

/// The function a template wraps.
type TemplateFn<'g, A, R> = Box<dyn Fn(&Graph, A) -> Result<R> + 'g>;

/// A template made by [`Graph::make_template`]. Call it with [`Template::call`].
pub struct Template<'g, A, R> {
    graph: &'g Graph,
    name: String,
    unique_name: Option<String>,
    custom_getter: Option<CustomGetter>,
    func: TemplateFn<'g, A, R>,
    scope: RefCell<Option<VariableScope>>,
    variables_created: Cell<bool>,
    origin: String,
}

impl Graph {
    /// `make_template(name_, func_, create_scope_now_, unique_name_, custom_getter_)`.
    /// `name = None` is `name cannot be None.` (L7). Bind extra arguments by capturing
    /// them in `func` (as `functools.partial` does).
    #[track_caller]
    pub fn make_template<'g, A, R>(
        &'g self,
        name: Option<&str>,
        func: impl Fn(&Graph, A) -> Result<R> + 'g,
        create_scope_now: bool,
        unique_name: Option<&str>,
        custom_getter: Option<CustomGetter>,
    ) -> Result<Template<'g, A, R>> {
        let loc = Location::caller();
        let Some(name) = name else { return Err(Error::TemplateNameNone) };
        let t = Template {
            graph: self,
            name: name.to_string(),
            unique_name: unique_name.map(String::from),
            custom_getter,
            func: Box::new(func),
            scope: RefCell::new(None),
            variables_created: Cell::new(false),
            origin: format!("  File \"{}\", line {}, in make_template\n", loc.file(), loc.line()),
        };
        if create_scope_now {
            let scope_name = match &t.unique_name {
                Some(u) => u.clone(),
                None => self.unique_variable_scope(&t.name),
            };
            let mut b = self.variable_scope(scope_name.as_str()).pure();
            if let Some(g) = &t.custom_getter {
                b = b.custom_getter(g.clone());
            }
            let vs = b.run_plain(|s| s.clone())?;
            *t.scope.borrow_mut() = Some(vs);
        }
        Ok(t)
    }
}

impl<A, R> Template<'_, A, R> {
    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The captured scope, once it exists.
    pub fn variable_scope(&self) -> Option<VariableScope> {
        self.scope.borrow().clone()
    }

    /// The scope name with a trailing `/` (`tmpl/`), once the scope exists.
    pub fn variable_scope_name(&self) -> Option<String> {
        self.scope.borrow().as_ref().map(|s| {
            let n = s.name();
            if n.is_empty() || n.ends_with('/') {
                n
            } else {
                format!("{n}/")
            }
        })
    }

    /// Calls the template: the first call creates variables in its scope; later calls
    /// re-enter the captured scope with `reuse=True`.
    pub fn call(&self, args: A) -> Result<R> {
        let g = self.graph;
        let existing = self.scope.borrow().clone();
        match existing {
            Some(vs) => {
                let mut b = g.variable_scope(ScopeName::Scope(vs));
                if self.variables_created.get() {
                    b = b.reuse(Reuse::True);
                }
                b.run(|_| self.call_func(args))
            }
            None => {
                let mut b = match &self.unique_name {
                    Some(u) => g.variable_scope(u.as_str()),
                    None => g.variable_scope_default(&self.name),
                };
                if let Some(cg) = &self.custom_getter {
                    b = b.custom_getter(cg.clone());
                }
                b.run(|s| {
                    *self.scope.borrow_mut() = Some(s.clone());
                    self.call_func(args)
                })
            }
        }
    }

    fn call_func(&self, args: A) -> Result<R> {
        let g = self.graph;
        let trainable_at_start = g.get_collection(GraphKeys::TRAINABLE_VARIABLES).len();
        let result = (self.func)(g, args).and_then(|r| {
            if self.variables_created.get() {
                let tv = g.trainable_variables();
                if tv.len() != trainable_at_start {
                    return Err(Error::TemplateTrainableCreated {
                        variables: tv[trainable_at_start.min(tv.len())..].iter().map(|v| format!("{v:?}")).collect(),
                    });
                }
            } else {
                self.variables_created.set(true);
            }
            Ok(r)
        });
        result.map_err(|e| Error::InTemplate { source: Box::new(e), origin: self.origin.clone() })
    }
}
