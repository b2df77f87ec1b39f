// The NSL-KDD record schema and the 121-feature encoding order.
//
// This header is the single source of the vocabulary: the Python package
// reads these tables through `ebgan_edge._core`, the model file stores the
// feature names it was trained with and the reader refuses a file whose names
// differ. Changing anything here changes the encoding: bump
// kEncodingVersion.
#pragma once

#include <cstddef>

namespace ebgan {

inline constexpr int kEncodingVersion = 1;

// The 41 fields of a raw NSL-KDD record, in file order.
inline constexpr int kRawFieldCount = 41;
inline constexpr const char* kRawFieldNames[kRawFieldCount] = {
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
};

inline constexpr int kProtocolTypeField = 1;
inline constexpr int kServiceField = 2;
inline constexpr int kFlagField = 3;
// Constant zero throughout NSL-KDD, so it carries no information: parsed and
// validated like any numeric field, then dropped.
inline constexpr int kDroppedField = 19;

// Features 0..36: the numeric raw fields in file order, without the three
// categorical fields and the dropped one. Min-max normalised.
inline constexpr int kNumericFeatureCount = 37;
inline constexpr int kNumericFeatureFields[kNumericFeatureCount] = {
    0,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22,
    23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
};

// Features 37..120: one-hot blocks, in this order.
inline constexpr int kProtocolTypeCount = 3;
inline constexpr const char* kProtocolTypes[kProtocolTypeCount] = {"icmp", "tcp", "udp"};

inline constexpr int kServiceCount = 70;
inline constexpr const char* kServices[kServiceCount] = {
    "aol",         "auth",       "bgp",         "courier",   "csnet_ns", "ctf",     "daytime",
    "discard",     "domain",     "domain_u",    "echo",      "eco_i",    "ecr_i",   "efs",
    "exec",        "finger",     "ftp",         "ftp_data",  "gopher",   "harvest", "hostnames",
    "http",        "http_2784",  "http_443",    "http_8001", "imap4",    "IRC",     "iso_tsap",
    "klogin",      "kshell",     "ldap",        "link",      "login",    "mtp",     "name",
    "netbios_dgm", "netbios_ns", "netbios_ssn", "netstat",   "nnsp",     "nntp",    "ntp_u",
    "other",       "pm_dump",    "pop_2",       "pop_3",     "printer",  "private", "red_i",
    "remote_job",  "rje",        "shell",       "smtp",      "sql_net",  "ssh",     "sunrpc",
    "supdup",      "systat",     "telnet",      "tftp_u",    "tim_i",    "time",    "urh_i",
    "urp_i",       "uucp",       "uucp_path",   "vmnet",     "whois",    "X11",     "Z39_50",
};

inline constexpr int kFlagCount = 11;
inline constexpr const char* kFlags[kFlagCount] = {
    "OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH",
};

// The categorical fields, each encoded as a one-hot block.
inline constexpr int kCategoricalCount = 3;  // protocol_type, service, flag

inline constexpr int kProtocolTypeOffset = kNumericFeatureCount;
inline constexpr int kServiceOffset = kProtocolTypeOffset + kProtocolTypeCount;
inline constexpr int kFlagOffset = kServiceOffset + kServiceCount;
inline constexpr int kFeatureCount = kFlagOffset + kFlagCount;
static_assert(kFeatureCount == 121, "the encoding has 121 features");

}  // namespace ebgan
