"""The signed-envelope test vectors of control-plane-api.md §6.7 (and the §5.2 data line of
vector 2), verbatim, for the Python canonicaliser, signer and verifier checks."""

# Ed25519 seed (hex) and public key (key32).
VECTOR_SEED = "85fba794bc042df7045907b8e467383dde7f453a51e5e4b59dd1d797c162097f"
VECTOR_KEY = "VJImqpTLJDVMCNTe68l2Amp6QsywhHO/a/KPqVHB8bQ="

# Vector 1 as received (indented, members reordered) and its signing input SI.
VECTOR1 = b"""{
  "signature": "Fd5PAlen5BJkY4YHwnHB0rOGVrs/mH13KnEOZRjDTFpmdAh7OWs3bbhAxqL8ZZHegPxWWVCQ8uL/mozSnwtiCA==",
  "event_id": "evt_000042",
  "event_type": "node_state_updated",
  "nonce": "6f1c2a9be4d058731b0e4d2c9a7f3e15",
  "issued_at": "2025-01-15T10:30:00.250000Z",
  "payload": {
    "metadata": { "env": "prod", "owner": "ops & sre <team>" },
    "data": [
      {
        "key": "app-config",
        "content_type": "application/json",
        "payload": { "port": 8443, "tls": true },
        "version": 3,
        "updated_at": "2025-01-15T10:29:59Z"
      }
    ]
  }
}"""
VECTOR1_SI = (b'{"event_type":"node_state_updated","event_id":"evt_000042","issued_at":'
              b'"2025-01-15T10:30:00.25Z","nonce":"6f1c2a9be4d058731b0e4d2c9a7f3e15","payload":'
              b'{"metadata":{"env":"prod","owner":"ops \\u0026 sre \\u003cteam\\u003e"},"data":'
              b'[{"key":"app-config","content_type":"application/json","payload":{"port":8443,'
              b'"tls":true},"version":3,"updated_at":"2025-01-15T10:29:59Z"}]}}')

# Vector 2: the compact data: line of §5.2.
VECTOR2 = (b'{"event_type":"peer_added","event_id":"evt_000043","issued_at":"2025-01-15T10:30:05Z",'
           b'"nonce":"0d3b8e51f2a94c67a1e0b5d7c3f29e84","payload":{"id":"n_peer456","public_key":'
           b'"YLDifagP9O4602AU1CozofO5x+T7Op1vc5z+4w9AgzY=","mesh_ip":"10.100.1.5","endpoint":'
           b'"203.0.113.10:51820","allowed_ips":["10.100.1.5/32"],"psk":'
           b'"BY0lWFE3NaekLVCSxBjjA5D5fik694dCChMkSy5so6c="},"signature":'
           b'"RZkUtTr8C7PQ4GV2/DY0k/HWpCZXi/pW6c4kn/EEjlqIgU2EU7dETIAxjd9H22MAvHW0QpthT6Mv3f9Uz+DYCA=="}')
