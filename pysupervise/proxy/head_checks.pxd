# The compiled build (setup.py): check_head's request is a C-typed ProxyRequest, its fields read as C.
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


cpdef check_head(TypedRequest request, long head_bytes, settings, bytes default_host, host_is_valid=*)
