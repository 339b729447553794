//! The category, address and coordinates fields of the request forms (issue 15), and the
//! attribute questions of the chosen category. Without JavaScript: the questions of a
//! category appear once it is chosen and the form is sent (the page comes back naming
//! what is missing).

use domain::municipality::{AttributeType, RequestCategories};

use super::{FormState, Page};
use crate::i18n::Lang;

/// An option of the category `<select>`.
pub struct CategoryOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The categories of one group.
pub struct CategoryGroup {
    pub label: String,
    pub options: Vec<CategoryOption>,
}

/// A question of the chosen category.
pub struct AttributeField {
    /// The form field's name and the element's id: `attribute[{code}]`.
    pub name: String,
    pub label: String,
    pub required: bool,
    /// `select` (a list of choices), `textarea` (`multiline`: datatype `text`) or `input`.
    pub list: bool,
    pub multiline: bool,
    pub choices: Vec<CategoryOption>,
    pub value: String,
}

/// What the forms show of categories and places.
pub struct PlaceFields {
    pub groups: Vec<CategoryGroup>,
    pub attributes: Vec<AttributeField>,
}

impl PlaceFields {
    pub fn new(p: &Page, categories: &RequestCategories, form: &FormState) -> Self {
        let chosen = form.value("category");
        let name = |el: &str, en: &str| match p.lang {
            Lang::El => el.to_string(),
            Lang::En => en.to_string(),
        };
        let mut groups: Vec<CategoryGroup> = Vec::new();
        for c in &categories.categories {
            let label = name(&c.group_el, &c.group_en);
            let option = CategoryOption {
                value: c.service_code.clone(),
                label: name(&c.name_el, &c.name_en),
                selected: c.service_code == chosen,
            };
            match groups.iter_mut().find(|g| g.label == label) {
                Some(g) => g.options.push(option),
                None => groups.push(CategoryGroup {
                    label,
                    options: vec![option],
                }),
            }
        }
        let attributes = categories
            .find(chosen)
            .map(|c| {
                c.attributes
                    .iter()
                    .map(|a| {
                        let field = format!("attribute[{}]", a.code);
                        let value = form.value(&field).to_string();
                        AttributeField {
                            label: name(&a.description_el, &a.description_en),
                            required: a.required,
                            list: a.datatype == AttributeType::Singlevaluelist,
                            multiline: a.datatype == AttributeType::Text,
                            choices: a
                                .values
                                .iter()
                                .map(|v| CategoryOption {
                                    selected: v.key == value,
                                    value: v.key.clone(),
                                    label: name(&v.name_el, &v.name_en),
                                })
                                .collect(),
                            value,
                            name: field,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { groups, attributes }
    }
}

/// The messages of the chosen category's questions name the question (the error summary
/// lists them away from their labels): «Συμπληρώστε: Ο αριθμός … στον φανοστάτη».
pub fn name_the_questions(p: &Page, categories: &RequestCategories, form: &mut FormState) {
    let Some(category) = categories.find(form.value("category")) else {
        return;
    };
    for a in &category.attributes {
        let field = format!("attribute[{}]", a.code);
        let Some(message) = form.error(&field).map(str::to_string) else {
            continue;
        };
        let question = match p.lang {
            Lang::El => &a.description_el,
            Lang::En => &a.description_en,
        };
        form.reword(&field, format!("{question}: {message}"));
    }
}

/// Each category's name in the page's language, by service code.
pub fn category_labels(
    lang: Lang,
    categories: &RequestCategories,
) -> std::collections::BTreeMap<String, String> {
    categories
        .categories
        .iter()
        .map(|c| {
            let label = match lang {
                Lang::El => c.name_el.clone(),
                Lang::En => c.name_en.clone(),
            };
            (c.service_code.clone(), label)
        })
        .collect()
}

/// Only the answers to the chosen category's questions: a question of a category chosen
/// before (the page came back, the citizen picked another) is not this request's.
pub fn answers_of_chosen(categories: &RequestCategories, place: &mut domain::request::PlaceInput) {
    let chosen = place.category.as_deref().map(str::trim).unwrap_or("");
    match categories.find(chosen) {
        Some(c) => place
            .attributes
            .retain(|code, _| c.attributes.iter().any(|a| &a.code == code)),
        None => place.attributes.clear(),
    }
}
