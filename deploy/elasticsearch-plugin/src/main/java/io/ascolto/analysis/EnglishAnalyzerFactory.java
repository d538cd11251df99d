package io.ascolto.analysis;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;

/**
 * Analyzer {@code ascolto_english}: Lucene's EnglishAnalyzer with its defaults
 * (possessive removal, lowercasing, English stop words, Porter stemmer),
 * the same chain as Elasticsearch's built-in {@code english} analyzer.
 */
@NamedComponent("ascolto_english")
public class EnglishAnalyzerFactory implements AnalyzerFactory {

    public EnglishAnalyzerFactory() {}

    @Override
    public Analyzer create() {
        return new EnglishAnalyzer();
    }
}
