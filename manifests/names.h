/*
 * names.h: the string formats Kubernetes validates, as pure checks.
 *
 * Each mf_check_* returns NULL when s is valid, or a static message that
 * says what is wrong and what the rule is, in Kubernetes' words where they
 * are clear, e.g. for "Web_1" as a DNS-1123 label:
 *   "must consist of lower case alphanumeric characters or '-', and must
 *    start and end with an alphanumeric character (e.g. 'my-name')"
 * The caller puts the field and the value in front. When Kubernetes would
 * list several problems, the first it lists is returned (length first).
 */
#ifndef MF_NAMES_H
#define MF_NAMES_H

#include <stdbool.h>

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. Namespaces,
 * Service names, container names, volume names. */
const char *mf_check_dns1123_label(const char *s);
/* RFC 1123 subdomain: labels joined by '.', at most 253. Most object names. */
const char *mf_check_dns1123_subdomain(const char *s);
/* RFC 1035 label: like 1123 but starts with a letter. Service names. */
const char *mf_check_dns1035_label(const char *s);
/* Label and annotation keys: [prefix/]name, prefix a DNS subdomain (<= 253),
 * name [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63. */
const char *mf_check_qualified_name(const char *s);
/* Label values: empty, or like a qualified name's name part, at most 63. */
const char *mf_check_label_value(const char *s);
/* IANA service name, for port names: at most 15, [a-z0-9-], at least one
 * letter, no leading/trailing/double '-'. */
const char *mf_check_port_name(const char *s);
/* Environment variable names: [-._a-zA-Z][-._a-zA-Z0-9]* (Kubernetes' rule),
 * and, as for config keys, not "." or ".." nor starting with "..". */
const char *mf_check_env_var_name(const char *s);
/* ConfigMap and Secret keys: [-._a-zA-Z0-9]+, at most 253, not "." or "..",
 * and not starting with ".." (a key is a file name in a volume, next to
 * Kubernetes' own "..data"). */
const char *mf_check_config_key(const char *s);
/* A percentage "25%" (0..100 digits then %) for maxSurge/maxUnavailable. */
const char *mf_check_percent(const char *s);

#endif
