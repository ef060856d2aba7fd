"""The consent a customer gives before signing electronically: a versioned legal text, in English and Chinese.

The text is a constant, not a translation-catalogue entry: what the signer agreed to must never change
with a catalogue update. Changing the wording means a new CONSENT_VERSION (signatures keep the text and
version they were shown).
"""
from __future__ import annotations

CONSENT_VERSION = "2026-11"

CONSENT_TEXTS = {
    "en": (
        "I agree to sign this document electronically. My electronic signature — my typed name and the "
        "signature I draw below — is legally binding, just like a handwritten signature on paper. "
        "I confirm that I have read the quote shown on this page, including its prices, terms and "
        "validity, that I am authorised to accept it on behalf of the customer named in it, and that by "
        "signing I accept it as a contract. I agree that the time, my IP address, my browser's user agent "
        "and a fingerprint (SHA-256) of the exact document shown are recorded as evidence of this "
        "signature, and that I receive the signed document with a certificate of these details."
    ),
    "zh-hans": (
        "我同意以电子方式签署本文件。我的电子签名（我输入的姓名和我在下方手写的签名）与纸面手写签名具有同等法律效力。"
        "我确认已阅读本页面所示的报价单，包括其价格、条款和有效期；我有权代表报价单中列明的客户接受该报价；"
        "签署即表示我接受其作为合同。我同意记录签署时间、我的 IP 地址、浏览器用户代理以及所示文件的指纹"
        "（SHA-256）作为本次签名的证据，并同意接收附有上述信息证书的已签署文件。"
    ),
}


def consent_text(language: str | None) -> str:
    """The consent text in `language` (a Django language code); English for anything else."""
    code = (language or "en").lower()
    if code.startswith("zh"):
        return CONSENT_TEXTS["zh-hans"]
    return CONSENT_TEXTS["en"]
