"""The one ranking pipeline evaluation and the service share: retrieval, masking, re-ranking stages, top-k."""

from lmrec.ranking.candidates import Candidates, Exclusions, top_candidates
from lmrec.ranking.pipeline import RankingPipeline, Retriever, ScoreRetriever, TopKRetriever, similarity_vectors
from lmrec.ranking.stages import MMR, MMR_CANDIDATES, STAGE_HELP, Stage, StageInputs, parse_stages

__all__ = ["MMR", "MMR_CANDIDATES", "Candidates", "Exclusions", "RankingPipeline", "Retriever", "ScoreRetriever",
           "STAGE_HELP", "Stage", "StageInputs", "TopKRetriever", "parse_stages", "similarity_vectors",
           "top_candidates"]
