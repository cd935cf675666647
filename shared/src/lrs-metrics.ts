/**
 * The named load metrics ferry-proxy adds to its LRS reports (load_metric_stats) and the control
 * plane reads back: one name for both sides of the wire. Envoy sends none of them.
 */

/** Per locality: upstream request time; total_metric_value is a sum of ms over the requests timed. */
export const LATENCY_METRIC = 'ferry.upstream_rq_time_ms';
/** Per endpoint: ejections by outlier detection that started in the report's interval. */
export const OUTLIER_EJECTIONS_METRIC = 'ferry.outlier_ejections';
/** Per endpoint: present (value 1) while outlier detection ejects the endpoint. */
export const OUTLIER_EJECTED_METRIC = 'ferry.outlier_ejected';
