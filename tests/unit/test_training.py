"""``ascolto train``: fitting, cross-validation and the model file, on a small set written for this test."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ascolto.cli.main import app
from ascolto.evaluation import MIXED
from ascolto.training import Params, Trainer, macro_f1, official_score, read_examples
from core.errors import AscoltoError
from streams.enrichers.sentiment_model import FEATURE_VERSION, SentimentModel, most_likely

pytest.importorskip("sklearn")

# Our own short posts, 20 per class; the topics (a café, a bus line, a gym) are invented.
POSITIVE = [
    "Il cappuccino del bar Stella è ottimo",
    "Servizio rapido e gentile, grazie",
    "Finalmente il 42 passa puntuale",
    "La palestra nuova è fantastica",
    "Personale cortese e preparato",
    "Che bella sorpresa stamattina",
    "Ottima esperienza, ci torno",
    "Consegna veloce, tutto perfetto",
    "Bravissimi al corso di yoga",
    "Il nuovo orario funziona benissimo",
    "Adoro questo posto",
    "Pulito, comodo e conveniente",
    "Grazie per l'aiuto di ieri 👍",
    "Esperienza splendida con il team",
    "Risolto tutto in cinque minuti, top",
    "Questo quartiere è rinato, bellissimo",
    "Sono molto soddisfatto del rimborso",
    "Che piacere tornare qui",
    "App chiara e facile da usare",
    "Il concerto è stato meraviglioso",
]
NEGATIVE = [
    "Il 42 è in ritardo di nuovo",
    "Servizio lento e scortese",
    "Caffè freddo e pure caro",
    "La palestra è sporca e affollata",
    "Nessuno risponde al telefono, vergogna",
    "Che delusione il nuovo menu",
    "Pessima esperienza, mai più",
    "Consegna persa e nessun rimborso",
    "Istruttore maleducato al corso",
    "Il nuovo orario è un disastro",
    "Odio queste code infinite",
    "Bagni sporchi e rotti",
    "Ancora guasto l'ascensore 😡",
    "Esperienza orribile con l'assistenza",
    "Tre ore di attesa per nulla",
    "Questo quartiere è abbandonato",
    "Sono molto arrabbiato per la bolletta",
    "Che schifo il parcheggio",
    "App lenta e piena di errori",
    "Il concerto è stato annullato senza avviso",
]
NEUTRAL = [
    "Il 42 passa ogni venti minuti",
    "Domani il bar apre alle sette",
    "La palestra chiude ad agosto",
    "Il corso di yoga inizia lunedì",
    "Nuovo orario dal primo marzo",
    "A che ora apre lo sportello?",
    "Il menu cambia ogni stagione",
    "La consegna arriva in tre giorni",
    "Riunione di quartiere giovedì sera",
    "Il concerto è in piazza alle nove",
    "Il parcheggio è in via Roma",
    "Pubblicato il calendario delle partite",
    "La bolletta arriva ogni due mesi",
    "L'app si aggiorna stanotte",
    "Lo sportello è al secondo piano",
    "Il biglietto costa due euro",
    "Sabato mercato in centro",
    "Il modulo si scarica dal sito",
    "Oggi è il primo giorno di primavera",
    "La linea 42 cambia percorso da lunedì",
]
EXAMPLES = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE] + [(t, "neutral") for t in NEUTRAL]
PARAMS = Params(min_df=1, folds=3)


@pytest.fixture(scope="module")
def trained() -> tuple[SentimentModel, object]:
    return Trainer("it", PARAMS).train(EXAMPLES, "ours", "ours.csv")


def test_the_model_learns_its_training_set_and_records_what_it_was_trained_on(trained) -> None:
    model, cv = trained
    texts = [t for t, _ in EXAMPLES]
    grams, rules, _ = Trainer("it", PARAMS).prepare(texts)
    predicted = [most_likely(model.polarity_scores(t, Trainer("it").sentiment.rule_scores(t, "it")[0])) for t in texts]
    assert macro_f1([label for _, label in EXAMPLES], predicted) > 0.9
    meta = model.meta
    assert meta["feature_version"] == FEATURE_VERSION and meta["lang"] == "it" and meta["name"] == "ours"
    assert meta["source"] == "ours.csv" and meta["posts"] == 60
    assert meta["class_counts"] == {"negative": 20, "neutral": 20, "positive": 20}
    assert meta["params"]["folds"] == 3 and meta["params"]["min_df"] == 1
    assert meta["cv"]["folds"] == 3 and 0 <= meta["cv"]["macro_f1"] <= 1
    assert meta["cv"]["macro_f1"] == round(cv.model.macro_f1, 4)
    assert meta["rules"].startswith("ascolto-it")
    assert len(grams) == 60 and rules.shape == (60, 7)


def test_same_predictions_after_save_and_load(trained, tmp_path: Path) -> None:
    model, _ = trained
    model.save(tmp_path / "ours.npz")
    again = SentimentModel.load(tmp_path / "ours.npz")
    rules = {"compound": 0.3, "pos": 0.2, "neu": 0.8, "neg": 0.0}
    for text, _ in [*EXAMPLES, ("Un testo mai visto prima", "neutral")]:
        assert again.polarity_scores(text, rules) == model.polarity_scores(text, rules)
    assert again.meta == model.meta


def test_a_class_the_labels_lack_is_never_predicted() -> None:
    two = [e for e in EXAMPLES if e[1] != "neutral"]
    trainer = Trainer("it", PARAMS)
    texts = [t for t, _ in two]
    grams, rules, _ = trainer.prepare(texts)
    model = trainer.fit(grams, rules, [label for _, label in two], trainer._meta("two", len(two)))
    zero = {"compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0}
    predicted = {most_likely(model.polarity_scores(t, zero)) for t in [*texts, "Riunione giovedì"]}
    assert predicted <= {"positive", "negative"}
    for text, label in two:
        assert most_likely(model.polarity_scores(text, trainer.sentiment.rule_scores(text, "it")[0])) == label


def test_too_few_posts_get_one_sentence() -> None:
    with pytest.raises(AscoltoError, match="at least two posts of each label"):
        Trainer("it", PARAMS).train([("bello", "positive"), ("brutto", "negative"), ("ok", "negative")], "x", "x")


def test_scores_as_sentipolc_defines_them() -> None:
    gold = ["positive", "negative", "neutral", MIXED]
    assert macro_f1(gold, ["positive", "negative", "neutral", "neutral"]) == 1.0  # mixed is left out
    # Positive task: gold [1,0,0,1] vs predicted [1,0,0,0] → F1(1)=2/3, F1(0)=0.8; negative task: all right.
    assert official_score(gold, ["positive", "negative", "neutral", "neutral"]) == pytest.approx(
        ((2 / 3 + 0.8) / 2 + (2 / 3 + 0.8) / 2) / 2
    )


def test_read_sentipolc_labels_and_mixed(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    rows = [("1", "0", "uno"), ("0", "1", "due"), ("0", "0", "tre"), ("1", "1", "quattro")]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["idtwitter", "subj", "opos", "oneg", "iro", "lpos", "lneg", "top", "text"])
        writer.writerows([("1", "1", p, n, "0", "0", "0", "0", t) for p, n, t in rows])
    pairs = read_examples(path, "sentipolc", "text", "label")
    assert pairs == [("uno", "positive"), ("due", "negative"), ("tre", "neutral"), ("quattro", MIXED)]
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(AscoltoError, match="SENTIPOLC 2016 file"):
        read_examples(tmp_path / "other.csv", "sentipolc", "text", "label")


def test_ascolto_train_writes_a_model_the_worker_can_load(tmp_path: Path) -> None:
    data = tmp_path / "labels.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["testo", "etichetta"])
        writer.writerows(EXAMPLES)
    result = CliRunner().invoke(
        app,
        ["train", str(data), "-o", str(tmp_path / "out" / "team"), "--text-column", "testo",
         "--label-column", "etichetta", "--folds", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3-fold CV" in result.output and "rules alone" in result.output
    assert "ASCOLTO_SENTIMENT_MODEL=" in result.output
    model = SentimentModel.load(tmp_path / "out" / "team.npz")
    assert model.model.startswith("trained:team@") and model.meta["posts"] == 60
