//! `demo_sentiment`: sentiment and intent of an incoming SMS, from small word lists in English,
//! Spanish and French.
//!
//! Parameters: `text` (the message body, required), `from`, `to` (echoed back when present),
//! `language` (`en`, `es` or `fr`; when absent the language is guessed from common words, and
//! English is the default).
//!
//! Scoring: each positive word counts +1 and each negative word -1, with the sign flipped when
//! the word before it is a negation ("not good"); the score is `(positive - negative) /
//! (positive + negative + 1)`, which is in (-1, 1) and grows in size with agreeing evidence.
//! Above 0.1 is positive, below -0.1 negative, neutral between.
//!
//! Intent, first match wins: `complaint` (a negative message), `question` (a `?`, or a first
//! word that asks), `greeting` (a first word that greets), `other`.

use serde_json::{Map, Value, json};

use super::{AppError, required_param, text_param};

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English.
    En,
    /// Spanish.
    Es,
    /// French.
    Fr,
}

struct Lexicon {
    positive: &'static [&'static str],
    negative: &'static [&'static str],
    negations: &'static [&'static str],
    question_words: &'static [&'static str],
    greetings: &'static [&'static str],
    common: &'static [&'static str],
}

const ENGLISH: Lexicon = Lexicon {
    positive: &[
        "good",
        "great",
        "love",
        "loved",
        "excellent",
        "amazing",
        "awesome",
        "happy",
        "thanks",
        "thank",
        "nice",
        "perfect",
        "wonderful",
        "fantastic",
        "glad",
        "best",
        "like",
        "enjoy",
        "enjoyed",
        "helpful",
    ],
    negative: &[
        "bad",
        "terrible",
        "awful",
        "hate",
        "hated",
        "worst",
        "broken",
        "angry",
        "disappointed",
        "poor",
        "refund",
        "horrible",
        "useless",
        "slow",
        "late",
        "wrong",
        "problem",
        "never",
        "sad",
        "complaint",
    ],
    negations: &[
        "not", "no", "don't", "dont", "isn't", "isnt", "wasn't", "never", "didn't",
    ],
    question_words: &[
        "what", "why", "how", "when", "where", "who", "which", "can", "could", "is", "are", "do", "does",
        "will", "would",
    ],
    greetings: &["hi", "hello", "hey", "greetings", "morning", "evening", "howdy"],
    common: &[
        "the", "and", "is", "you", "my", "it", "to", "of", "a", "this", "i", "for", "was",
    ],
};

const SPANISH: Lexicon = Lexicon {
    positive: &[
        "bueno",
        "buena",
        "excelente",
        "gracias",
        "genial",
        "feliz",
        "encanta",
        "perfecto",
        "maravilloso",
        "mejor",
        "amor",
        "bien",
    ],
    negative: &[
        "malo",
        "mala",
        "terrible",
        "odio",
        "peor",
        "roto",
        "enojado",
        "problema",
        "horrible",
        "triste",
        "queja",
        "reembolso",
        "lento",
    ],
    negations: &["no", "nunca", "jamás", "jamas"],
    question_words: &[
        "qué", "cómo", "cuándo", "cuando", "dónde", "donde", "quién", "cuál",
    ],
    greetings: &["hola", "buenos", "buenas", "saludos"],
    common: &[
        "el", "la", "los", "las", "es", "y", "de", "mi", "muy", "un", "una", "por", "con",
    ],
};

const FRENCH: Lexicon = Lexicon {
    positive: &[
        "bon",
        "bonne",
        "excellent",
        "merci",
        "génial",
        "genial",
        "heureux",
        "parfait",
        "adore",
        "super",
        "meilleur",
        "bien",
    ],
    negative: &[
        "mauvais",
        "mauvaise",
        "terrible",
        "déteste",
        "deteste",
        "pire",
        "cassé",
        "casse",
        "fâché",
        "problème",
        "probleme",
        "horrible",
        "triste",
        "plainte",
        "remboursement",
        "lent",
    ],
    negations: &["pas", "ne", "jamais", "non"],
    question_words: &["quoi", "pourquoi", "comment", "quand", "où", "qui", "est-ce"],
    greetings: &["bonjour", "salut", "bonsoir", "coucou"],
    common: &[
        "le", "la", "les", "est", "et", "de", "mon", "ma", "très", "un", "une", "je", "pour", "avec",
    ],
};

impl Language {
    /// The code the configuration uses.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Fr => "fr",
        }
    }

    /// The language with this code.
    pub fn parse(code: &str) -> Option<Language> {
        [Language::En, Language::Es, Language::Fr]
            .into_iter()
            .find(|language| language.code().eq_ignore_ascii_case(code.trim()))
    }

    fn lexicon(self) -> &'static Lexicon {
        match self {
            Language::En => &ENGLISH,
            Language::Es => &SPANISH,
            Language::Fr => &FRENCH,
        }
    }
}

/// The words of a message, lower-cased, without the punctuation around them.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|word| {
            word.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
                .to_lowercase()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// The language whose common and sentiment words the message uses most; English on a tie.
pub fn detect(text: &str) -> Language {
    let words = words(text);
    let hits = |language: Language| {
        let lexicon = language.lexicon();
        words
            .iter()
            .filter(|word| {
                let word = word.as_str();
                lexicon.common.contains(&word)
                    || lexicon.positive.contains(&word)
                    || lexicon.negative.contains(&word)
                    || lexicon.greetings.contains(&word)
            })
            .count()
    };
    let mut best = (Language::En, hits(Language::En));
    for language in [Language::Es, Language::Fr] {
        let count = hits(language);
        if count > best.1 {
            best = (language, count);
        }
    }
    best.0
}

/// The analysis of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// `positive`, `negative` or `neutral`.
    pub sentiment: &'static str,
    /// In [-1, 1].
    pub score: f64,
    /// `question`, `greeting`, `complaint` or `other`.
    pub intent: &'static str,
    /// The language the analysis used.
    pub language: Language,
}

/// Analyses a message in a language.
pub fn analyse(text: &str, language: Language) -> Analysis {
    let lexicon = language.lexicon();
    let words = words(text);
    let (mut positive, mut negative) = (0u32, 0u32);
    for (index, word) in words.iter().enumerate() {
        let word = word.as_str();
        let polarity: i8 = if lexicon.positive.contains(&word) {
            1
        } else if lexicon.negative.contains(&word) {
            -1
        } else {
            continue;
        };
        let negated = index > 0 && lexicon.negations.contains(&words[index - 1].as_str());
        if (polarity > 0) != negated {
            positive += 1;
        } else {
            negative += 1;
        }
    }
    let score = (f64::from(positive) - f64::from(negative)) / (f64::from(positive + negative) + 1.0);
    let sentiment = if score > 0.1 {
        "positive"
    } else if score < -0.1 {
        "negative"
    } else {
        "neutral"
    };
    let first = words.first().map(String::as_str);
    let intent = if sentiment == "negative" {
        "complaint"
    } else if text.contains('?')
        || text.contains('¿')
        || first.is_some_and(|w| lexicon.question_words.contains(&w))
    {
        "question"
    } else if first.is_some_and(|w| lexicon.greetings.contains(&w)) {
        "greeting"
    } else {
        "other"
    };
    Analysis {
        sentiment,
        score,
        intent,
        language,
    }
}

/// The app's answer to its parameters.
pub fn answer(params: &Map<String, Value>) -> Result<Value, AppError> {
    let text = required_param(params, "text")?;
    let language = match text_param(params, "language").filter(|code| !code.is_empty()) {
        Some(code) => {
            Language::parse(&code).ok_or_else(|| AppError::invalid("language", "must be en, es or fr"))?
        }
        None => detect(&text),
    };
    let analysis = analyse(&text, language);
    let mut answer = json!({
        "sentiment": analysis.sentiment,
        "score": analysis.score,
        "intent": analysis.intent,
        "language": analysis.language.code(),
    });
    for name in ["from", "to"] {
        if let Some(value) = text_param(params, name) {
            answer[name] = Value::String(value);
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_for(params: Value) -> Value {
        answer(&params.as_object().cloned().expect("object")).expect("answers")
    }

    #[test]
    fn positive_negative_and_neutral() {
        let happy = analyse("I love it, thanks, great service", Language::En);
        assert_eq!(happy.sentiment, "positive");
        assert!(happy.score > 0.5 && happy.score < 1.0, "{happy:?}");
        let sad = analyse("This is terrible and my phone is broken", Language::En);
        assert_eq!(sad.sentiment, "negative");
        assert!(sad.score < -0.5 && sad.score > -1.0, "{sad:?}");
        assert_eq!(analyse("Meet at 5", Language::En).sentiment, "neutral");
        assert_eq!(analyse("", Language::En).score, 0.0);
    }

    #[test]
    fn negation_flips_polarity() {
        assert_eq!(analyse("this is not good", Language::En).sentiment, "negative");
        assert_eq!(analyse("not bad at all", Language::En).sentiment, "positive");
    }

    #[test]
    fn intents() {
        assert_eq!(analyse("Hello there", Language::En).intent, "greeting");
        assert_eq!(
            analyse("Hi, what time do you open?", Language::En).intent,
            "question"
        );
        assert_eq!(analyse("How do I reset it", Language::En).intent, "question");
        assert_eq!(
            analyse("Why is my order broken? Terrible.", Language::En).intent,
            "complaint"
        );
        assert_eq!(analyse("See you at 5", Language::En).intent, "other");
    }

    #[test]
    fn spanish_and_french() {
        let es = analyse("Hola, el servicio es excelente, gracias", Language::Es);
        assert_eq!((es.sentiment, es.intent), ("positive", "greeting"));
        let fr = analyse("Le produit est cassé, c'est horrible", Language::Fr);
        assert_eq!((fr.sentiment, fr.intent), ("negative", "complaint"));
        assert_eq!(analyse("ce n'est pas bon", Language::Fr).sentiment, "negative");
    }

    #[test]
    fn language_is_configured_or_detected() {
        assert_eq!(detect("hola, muy bueno el servicio"), Language::Es);
        assert_eq!(detect("bonjour, je suis très heureux"), Language::Fr);
        assert_eq!(detect("12345"), Language::En);
        let answer = answer_for(json!({"text": "great", "language": "fr", "from": "+1415", "to": "+1877"}));
        assert_eq!(answer["language"], json!("fr"));
        assert_eq!(answer["from"], json!("+1415"));
        let detected = answer_for(json!({"text": "merci, c'est parfait"}));
        assert_eq!(detected["language"], json!("fr"));
        assert_eq!(detected["sentiment"], json!("positive"));
    }

    #[test]
    fn the_answer_has_every_field() {
        let answer = answer_for(json!({"text": "Is the store open today?", "language": "en"}));
        assert_eq!(answer["sentiment"], json!("neutral"));
        assert_eq!(answer["score"], json!(0.0));
        assert_eq!(answer["intent"], json!("question"));
        assert_eq!(answer["language"], json!("en"));
    }

    #[test]
    fn bad_parameters_are_bad_requests() {
        assert!(answer(&Map::new()).is_err());
        let params = json!({"text": "hi", "language": "de"})
            .as_object()
            .cloned()
            .expect("object");
        assert!(answer(&params).is_err());
    }
}
