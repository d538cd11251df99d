package io.ascolto.analysis;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.it.ItalianAnalyzer;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;

/**
 * Analyzer {@code ascolto_italian}: Lucene's ItalianAnalyzer with its defaults
 * (elision of articles, lowercasing, Italian stop words, light Italian stemmer),
 * the same chain as Elasticsearch's built-in {@code italian} analyzer.
 */
@NamedComponent("ascolto_italian")
public class ItalianAnalyzerFactory implements AnalyzerFactory {

    public ItalianAnalyzerFactory() {}

    @Override
    public Analyzer create() {
        return new ItalianAnalyzer();
    }
}
