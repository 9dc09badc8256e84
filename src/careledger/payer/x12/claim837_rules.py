"""What an 837P/837I may and must hold, as the reader checks it for the 999.

Segment ids an 837 may carry (anything else is IK3 code 1), the loop each provider NM1 opens
(for IK303), the segments each HL level needs, and the NM1 entities that must carry a name and
an identifier. Not a full implementation guide: the structure a claim needs to be read safely.
"""

from __future__ import annotations

PROFESSIONAL = "005010X222A1"
INSTITUTIONAL = "005010X223A2"

#: Segments an 837P/837I may hold; anything else is IK3 code 1 (unrecognized segment).
KNOWN_SEGMENTS = frozenset(
    [
        "BHT",
        "NM1",
        "PER",
        "HL",
        "PRV",
        "CUR",
        "N3",
        "N4",
        "REF",
        "SBR",
        "PAT",
        "DMG",
        "CLM",
        "DTP",
        "CL1",
        "PWK",
        "CN1",
        "AMT",
        "K3",
        "NTE",
        "CR1",
        "CR2",
        "CRC",
        "HI",
        "HCP",
        "CAS",
        "OI",
        "MIA",
        "MOA",
        "LX",
        "SV1",
        "SV2",
        "SV5",
        "CR3",
        "MEA",
        "PS1",
        "LIN",
        "CTP",
        "SVD",
        "LQ",
        "FRM",
        "QTY",
        "TOO",
    ]
)
LOOP_2310 = {
    PROFESSIONAL: {"DN": "2310A", "P3": "2310A", "82": "2310B", "77": "2310C", "DQ": "2310D"},
    INSTITUTIONAL: {"71": "2310A", "72": "2310B", "ZZ": "2310C", "82": "2310D", "77": "2310E"},
}
LOOP_2420 = {
    PROFESSIONAL: {"82": "2420A", "QB": "2420B", "77": "2420C", "DQ": "2420D", "DN": "2420F"},
    INSTITUTIONAL: {"72": "2420A", "ZZ": "2420B", "82": "2420C", "DN": "2420D"},
}


#: Segments each HL level needs before its claims: the billing provider's name (2010AA), the
#: subscriber's SBR, name and payer (2000B/2010BA/2010BB), the patient's PAT and name (2000C).
LEVEL_NEEDS = {"20": ("NM1*85",), "22": ("SBR", "NM1*IL", "NM1*PR"), "23": ("PAT", "NM1*QC")}
#: NM1 entities whose NM109 identifier the claim needs (submitter, receiver, billing provider,
#: subscriber, payer), and those that must be named even as organisations.
IDENTIFIED = frozenset({"41", "40", "85", "IL", "PR"})
NAMED = frozenset({"41", "40", "85", "IL", "PR", "QC"})
