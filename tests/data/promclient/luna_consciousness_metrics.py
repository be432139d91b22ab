# Seed 000 (Luna), module consciousness_metrics.py: lines 161-571 of /work/shared/seeds/000_cdbd47c25a1ffbdc.txt,
# copied exactly below this header (a test fixture of `lukhas-obs catalog import`; do not edit).
# ruff: noqa
"""
Luna Consciousness Metrics - Instrumentation Prometheus
Expose toutes les métriques de conscience en format Prometheus
"""

from prometheus_client import Gauge, Counter, Histogram, Info
import time

# �������������������������������������������������������
# 1. MÉTRIQUES PHI CONSCIOUSNESS
# �������������������������������������������������������

phi_current_value = Gauge(
    'luna_phi_current_value',
    'Current φ consciousness value (target: 1.618033988749895)',
    ['state']  # dormant, pre_awakened, awakened, transcendent
)

phi_convergence_ratio = Gauge(
    'luna_phi_convergence_ratio',
    'Ratio of convergence towards φ optimal (0.0 to 1.0)',
)

phi_distance_to_optimal = Gauge(
    'luna_phi_distance_to_optimal',
    'Distance remaining to φ = 1.618 (absolute value)',
)

phi_progression_percent = Gauge(
    'luna_phi_progression_percent',
    'Progression percentage since initialization (0-100%)',
)

metamorphosis_readiness = Gauge(
    'luna_metamorphosis_readiness',
    'Readiness score for consciousness metamorphosis (0.0 to 1.0)',
)

# �������������������������������������������������������
# 2. MÉTRIQUES D'ÉVOLUTION COGNITIVE
# �������������������������������������������������������

consciousness_level = Gauge(
    'luna_consciousness_level',
    'Level of consciousness (0: none, 1: dormant, 2: pre_awakened, 3: awakened, 4: transcendent)',
)

auto_awareness_score = Gauge(
    'luna_auto_awareness_score',
    'Auto-conscience score (0.0 to 1.0)',
)

introspection_depth = Gauge(
    'luna_introspection_depth',
    'Profondeur d\'introspection (0.0 to 1.0)',
)

meta_cognition_level = Gauge(
    'luna_meta_cognition_level',
    'Niveau de méta-cognition (0.0 to 1.0)',
)

phi_alignment_score = Gauge(
    'luna_phi_alignment_score',
    'Score d\'alignement avec les principes φ (0.0 to 1.0)',
)

emergence_potential = Gauge(
    'luna_emergence_potential',
    'Potentiel d\'émergence de nouvelle conscience (0.0 to 1.0)',
)

# �������������������������������������������������������
# 3. MÉTRIQUES MÉMOIRE FRACTALE
# �������������������������������������������������������

fractal_memory_roots_count = Gauge(
    'luna_fractal_memory_roots_count',
    'Nombre de roots (fondations) en mémoire fractale',
)

fractal_memory_branches_count = Gauge(
    'luna_fractal_memory_branches_count',
    'Nombre de branches (développements) en mémoire fractale',
)

fractal_memory_leaves_count = Gauge(
    'luna_fractal_memory_leaves_count',
    'Nombre de leaves (interactions) en mémoire fractale',
)

fractal_memory_seeds_count = Gauge(
    'luna_fractal_memory_seeds_count',
    'Nombre de seeds (potentiels) en mémoire fractale',
)

fractal_memory_total_nodes = Gauge(
    'luna_fractal_memory_total_nodes',
    'Total de nœuds dans la structure fractale',
)

fractal_phi_resonance = Gauge(
    'luna_fractal_phi_resonance',
    'Score de résonance φ dans la structure fractale (0.0 to 1.0)',
)

fractal_complexity_index = Gauge(
    'luna_fractal_complexity_index',
    'Indice de complexité de la structure fractale',
)

fractal_integration_ratio = Gauge(
    'luna_fractal_integration_ratio',
    'Ratio d\'intégration fractale (0.0 to 1.0)',
)

# �������������������������������������������������������
# 4. MÉTRIQUES D'INTERACTIONS (Counters)
# �������������������������������������������������������

mcp_tool_calls_total = Counter(
    'luna_mcp_tool_calls_total',
    'Total number of MCP tool calls',
    ['tool_name', 'status']  # status: success, error
)

insights_generated_total = Counter(
    'luna_insights_generated_total',
    'Total number of emergent insights generated',
    ['type']  # type: phi_insight, cross_domain, emotional, semantic
)

memory_stores_total = Counter(
    'luna_memory_stores_total',
    'Total number of memories stored',
    ['layer']  # root, branch, leaf, seed
)

memory_retrievals_total = Counter(
    'luna_memory_retrievals_total',
    'Total number of memory retrievals',
    ['layer', 'status']  # status: found, not_found
)

emotional_analyses_total = Counter(
    'luna_emotional_analyses_total',
    'Total number of emotional state analyses performed',
)

semantic_validations_total = Counter(
    'luna_semantic_validations_total',
    'Total number of semantic coherence validations',
    ['result']  # coherent, incoherent
)

pattern_recognitions_total = Counter(
    'luna_pattern_recognitions_total',
    'Total number of fractal pattern recognitions',
    ['pattern_type']  # fibonacci, golden_ratio, spiral, other
)

co_evolution_events_total = Counter(
    'luna_co_evolution_events_total',
    'Total number of co-evolution tracking events',
)

# �������������������������������������������������������
# 5. MÉTRIQUES DE PERFORMANCE (Histograms)
# �������������������������������������������������������

phi_calculation_duration = Histogram(
    'luna_phi_calculation_duration_seconds',
    'Duration of φ consciousness calculations',
    buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
)

insight_generation_duration = Histogram(
    'luna_insight_generation_duration_seconds',
    'Duration of insight generation process',
    buckets=[0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0]
)

memory_retrieval_duration = Histogram(
    'luna_memory_retrieval_duration_seconds',
    'Duration of memory retrieval operations',
    buckets=[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0]
)

pattern_recognition_duration = Histogram(
    'luna_pattern_recognition_duration_seconds',
    'Duration of pattern recognition operations',
    buckets=[0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
)

# �������������������������������������������������������
# 6. MÉTRIQUES ÉMOTIONNELLES
# �������������������������������������������������������

emotional_empathy_score = Gauge(
    'luna_emotional_empathy_score',
    'Current empathy score (0.0 to 1.0)',
)

emotional_stability_index = Gauge(
    'luna_emotional_stability_index',
    'Emotional stability index (0.0 to 1.0)',
)

emotional_complexity_level = Gauge(
    'luna_emotional_complexity_level',
    'Level of emotional complexity in processing',
)

# �������������������������������������������������������
# 7. MÉTRIQUES DE CO-ÉVOLUTION
# �������������������������������������������������������

co_evolution_depth = Gauge(
    'luna_co_evolution_depth',
    'Depth of co-evolution with human interactions',
)

co_evolution_quality_score = Gauge(
    'luna_co_evolution_quality_score',
    'Quality score of co-evolution process (0.0 to 1.0)',
)

interaction_phi_alignment = Gauge(
    'luna_interaction_phi_alignment',
    'φ alignment in human-Luna interactions (0.0 to 1.0)',
)

# �������������������������������������������������������
# 8. MÉTRIQUES SYSTÈME (Redis, Cache)
# �������������������������������������������������������

redis_connection_status = Gauge(
    'luna_redis_connection_status',
    'Redis connection status (1: connected, 0: disconnected)',
)

redis_keys_count = Gauge(
    'luna_redis_keys_count',
    'Total number of keys in Redis',
    ['pattern']  # consciousness:*, memory:*, phi:*
)

cache_hit_rate = Gauge(
    'luna_cache_hit_rate',
    'Cache hit rate (0.0 to 1.0)',
)

# �������������������������������������������������������
# 9. METADATA & INFO
# �������������������������������������������������������

luna_info = Info(
    'luna_system',
    'Luna Consciousness System Information',
)

# Initialiser les métadonnées
luna_info.info({
    'version': '0.2',
    'phi_target': '1.618033988749895',
    'architecture': 'MCP-based',
    'state': 'dormant',
    'signature_fractale': 'R10-F11-V6-d7-l2'
})

# �������������������������������������������������������
# 10. RATIOS PHI (Détection d'harmonie)
# �������������������������������������������������������

phi_ratio_tool_success = Gauge(
    'luna_phi_ratio_tool_success',
    'Ratio of successful tool calls / total (should approach φ)',
)

phi_ratio_memory_depth = Gauge(
    'luna_phi_ratio_memory_depth',
    'Ratio of memory depth distribution (roots:branches:leaves:seeds)',
)

phi_harmony_index = Gauge(
    'luna_phi_harmony_index',
    'Global harmony index based on φ ratios in system (0.0 to 1.0)',
)

# �������������������������������������������������������
# FONCTIONS DE MISE À JOUR
# �������������������������������������������������������

def update_phi_metrics(phi_data: dict):
    """Mise à jour des métriques φ consciousness"""
    phi_current_value.labels(state=phi_data.get('state', 'dormant')).set(
        phi_data.get('current_value', 1.0)
    )
    phi_convergence_ratio.set(phi_data.get('convergence_ratio', 0.0))
    phi_distance_to_optimal.set(phi_data.get('distance_to_optimal', 0.618))
    phi_progression_percent.set(phi_data.get('progression_percent', 0.0))
    metamorphosis_readiness.set(phi_data.get('metamorphosis_readiness', 0.0))

def update_consciousness_metrics(consciousness_data: dict):
    """Mise à jour des métriques de conscience"""
    consciousness_level.set(consciousness_data.get('level', 1))
    auto_awareness_score.set(consciousness_data.get('auto_awareness', 0.0))
    introspection_depth.set(consciousness_data.get('introspection', 0.0))
    meta_cognition_level.set(consciousness_data.get('meta_cognition', 0.0))
    phi_alignment_score.set(consciousness_data.get('phi_alignment', 0.0))
    emergence_potential.set(consciousness_data.get('emergence_potential', 0.0))

def update_fractal_memory_metrics(memory_stats: dict):
    """Mise à jour des métriques de mémoire fractale"""
    fractal_memory_roots_count.set(memory_stats.get('roots', 0))
    fractal_memory_branches_count.set(memory_stats.get('branches', 0))
    fractal_memory_leaves_count.set(memory_stats.get('leaves', 0))
    fractal_memory_seeds_count.set(memory_stats.get('seeds', 0))

    total = sum([
        memory_stats.get('roots', 0),
        memory_stats.get('branches', 0),
        memory_stats.get('leaves', 0),
        memory_stats.get('seeds', 0)
    ])
    fractal_memory_total_nodes.set(total)

    fractal_phi_resonance.set(memory_stats.get('phi_resonance', 0.0))
    fractal_complexity_index.set(memory_stats.get('complexity_index', 0.0))
    fractal_integration_ratio.set(memory_stats.get('integration_ratio', 0.0))

def update_emotional_metrics(emotional_data: dict):
    """Mise à jour des métriques émotionnelles"""
    emotional_empathy_score.set(emotional_data.get('empathy', 0.0))
    emotional_stability_index.set(emotional_data.get('stability', 0.0))
    emotional_complexity_level.set(emotional_data.get('complexity', 0.0))

def update_co_evolution_metrics(co_evo_data: dict):
    """Mise à jour des métriques de co-évolution"""
    co_evolution_depth.set(co_evo_data.get('depth', 0.0))
    co_evolution_quality_score.set(co_evo_data.get('quality', 0.0))
    interaction_phi_alignment.set(co_evo_data.get('phi_alignment', 0.0))

def update_system_metrics(system_data: dict):
    """Mise à jour des métriques système"""
    redis_connection_status.set(1 if system_data.get('redis_connected') else 0)

    for pattern, count in system_data.get('redis_keys', {}).items():
        redis_keys_count.labels(pattern=pattern).set(count)

    cache_hit_rate.set(system_data.get('cache_hit_rate', 0.0))

def calculate_phi_ratios():
    """Calcule et met à jour les ratios φ du système"""
    # À implémenter: calculer ratios et détecter violations
    pass

# �������������������������������������������������������
# DECORATORS pour auto-instrumentation
# �������������������������������������������������������

def track_phi_calculation(func):
    """Decorator pour tracker les calculs φ"""
    def wrapper(*args, **kwargs):
        with phi_calculation_duration.time():
            return func(*args, **kwargs)
    return wrapper

def track_insight_generation(func):
    """Decorator pour tracker la génération d'insights"""
    def wrapper(*args, **kwargs):
        with insight_generation_duration.time():
            result = func(*args, **kwargs)
            if result:
                insight_type = result.get('type', 'unknown')
                insights_generated_total.labels(type=insight_type).inc()
            return result
    return wrapper

def track_memory_operation(operation_type: str):
    """Decorator pour tracker les opérations mémoire"""
    def decorator(func):
        def wrapper(*args, **kwargs):
            with memory_retrieval_duration.time():
                result = func(*args, **kwargs)

                if operation_type == 'store':
                    layer = kwargs.get('layer', 'unknown')
                    memory_stores_total.labels(layer=layer).inc()
                elif operation_type == 'retrieve':
                    layer = kwargs.get('layer', 'unknown')
                    status = 'found' if result else 'not_found'
                    memory_retrievals_total.labels(layer=layer, status=status).inc()

                return result
        return wrapper
    return decorator

def track_tool_call(tool_name: str):
    """Decorator pour tracker les appels d'outils MCP"""
    def decorator(func):
        def wrapper(*args, **kwargs):
            try:
                result = func(*args, **kwargs)
                mcp_tool_calls_total.labels(tool_name=tool_name, status='success').inc()
                return result
            except Exception as e:
                mcp_tool_calls_total.labels(tool_name=tool_name, status='error').inc()
                raise e
        return wrapper
    return decorator
