"""Pools of realistic values for the demo data: generated once per seed, then combined at random.

Person names: English from Faker (en_US); Chinese from common surnames and given names with their
pinyin, so that 王伟 gets wei.wang@… and not a random romanisation. Company names from Faker
(en_US and zh_CN). Everything else (titles, cities, reasons) is a curated list of what a B2B sales
team really sees.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    chinese_names: float  # share of people with Chinese names
    currency: str  # deal currency
    cities: tuple[tuple[str, str, str], ...]  # (city, region, postal code prefix)
    phone: str  # pattern: 9 = a random digit
    free_mail: tuple[str, ...]
    tld: str


COUNTRIES: tuple[Country, ...] = (
    Country("CN", 28, 1.0, "CNY", (
        ("上海", "上海市", "200"), ("北京", "北京市", "100"), ("深圳", "广东省", "518"), ("广州", "广东省", "510"),
        ("杭州", "浙江省", "310"), ("成都", "四川省", "610"), ("苏州", "江苏省", "215"), ("南京", "江苏省", "210"),
        ("武汉", "湖北省", "430"), ("西安", "陕西省", "710"),
    ), "+86 13999999999", ("qq.com", "163.com", "126.com"), "com.cn"),
    Country("US", 24, 0.06, "USD", (
        ("New York", "NY", "100"), ("San Francisco", "CA", "941"), ("Austin", "TX", "787"), ("Chicago", "IL", "606"),
        ("Seattle", "WA", "981"), ("Boston", "MA", "021"), ("Atlanta", "GA", "303"), ("Denver", "CO", "802"),
    ), "+1 (999) 999-9999", ("gmail.com", "outlook.com", "yahoo.com"), "com"),
    Country("GB", 9, 0.03, "USD", (
        ("London", "England", "EC1"), ("Manchester", "England", "M1"), ("Edinburgh", "Scotland", "EH1"),
        ("Bristol", "England", "BS1"), ("Leeds", "England", "LS1"), ("Cambridge", "England", "CB2"),
    ), "+44 20 9999 9999", ("gmail.com", "outlook.com"), "co.uk"),
    Country("DE", 8, 0.02, "EUR", (
        ("Berlin", "Berlin", "101"), ("München", "Bayern", "803"), ("Hamburg", "Hamburg", "203"),
        ("Frankfurt am Main", "Hessen", "603"), ("Köln", "Nordrhein-Westfalen", "506"), ("Stuttgart", "Baden-Württemberg", "701"),
    ), "+49 30 99999999", ("gmx.de", "web.de", "gmail.com"), "de"),
    Country("SG", 6, 0.55, "USD", (("Singapore", "", "01"),), "+65 9999 9999", ("gmail.com", "hotmail.com"), "com.sg"),
    Country("HK", 4, 0.9, "USD", (("Hong Kong", "", ""),), "+852 9999 9999", ("gmail.com", "yahoo.com.hk"), "com.hk"),
    Country("JP", 4, 0.05, "USD", (("Tokyo", "Tokyo", "100"), ("Osaka", "Osaka", "530")), "+81 3 9999 9999",
            ("gmail.com",), "co.jp"),
    Country("FR", 4, 0.02, "EUR", (("Paris", "Île-de-France", "750"), ("Lyon", "Auvergne-Rhône-Alpes", "690")),
            "+33 1 99 99 99 99", ("gmail.com", "orange.fr"), "fr"),
    Country("NL", 3, 0.02, "EUR", (("Amsterdam", "Noord-Holland", "101"), ("Rotterdam", "Zuid-Holland", "301")),
            "+31 20 999 9999", ("gmail.com",), "nl"),
    Country("AU", 4, 0.08, "USD", (("Sydney", "NSW", "20"), ("Melbourne", "VIC", "30")), "+61 2 9999 9999",
            ("gmail.com", "bigpond.com"), "com.au"),
    Country("CA", 3, 0.08, "USD", (("Toronto", "ON", "M5"), ("Vancouver", "BC", "V6")), "+1 (999) 999-9999",
            ("gmail.com",), "ca"),
    Country("IN", 3, 0.0, "USD", (("Bengaluru", "Karnataka", "560"), ("Mumbai", "Maharashtra", "400")),
            "+91 99999 99999", ("gmail.com",), "in"),
)

# Common Chinese surnames and given names, with pinyin for e-mail addresses.
ZH_SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("黄", "huang"),
    ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"),
    ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"), ("郑", "zheng"),
    ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"),
    ("邓", "deng"), ("曹", "cao"), ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"),
    ("袁", "yuan"), ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"), ("余", "yu"), ("杜", "du"),
    ("叶", "ye"), ("程", "cheng"), ("苏", "su"), ("魏", "wei"), ("吕", "lv"), ("丁", "ding"), ("任", "ren"),
    ("沈", "shen"), ("姚", "yao"), ("卢", "lu"), ("姜", "jiang"), ("崔", "cui"), ("钟", "zhong"), ("欧阳", "ouyang"),
)
ZH_GIVEN = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("强", "qiang"),
    ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"),
    ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀英", "xiuying"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"),
    ("桂英", "guiying"), ("建华", "jianhua"), ("晓明", "xiaoming"), ("子涵", "zihan"), ("浩然", "haoran"),
    ("欣怡", "xinyi"), ("宇轩", "yuxuan"), ("思远", "siyuan"), ("梓涵", "zihan"), ("一鸣", "yiming"), ("佳琪", "jiaqi"),
    ("志强", "zhiqiang"), ("海燕", "haiyan"), ("晓东", "xiaodong"), ("文博", "wenbo"), ("雨婷", "yuting"),
    ("俊杰", "junjie"), ("嘉怡", "jiayi"), ("天宇", "tianyu"), ("若曦", "ruoxi"), ("振华", "zhenhua"), ("丹", "dan"),
    ("鹏", "peng"), ("慧", "hui"), ("颖", "ying"), ("斌", "bin"), ("婷", "ting"), ("辉", "hui"), ("晨", "chen"),
    ("琳", "lin"), ("凯", "kai"), ("雪", "xue"), ("浩", "hao"), ("倩", "qian"), ("宁", "ning"), ("博", "bo"),
    ("小红", "xiaohong"), ("国庆", "guoqing"), ("立新", "lixin"),
)

INDUSTRIES = (
    "Software", "Manufacturing", "Financial services", "Healthcare", "Retail", "Logistics", "Education",
    "Energy", "Telecommunications", "Professional services", "Automotive", "Construction", "Media",
    "Hospitality", "Pharmaceuticals", "Real estate",
)
COMPANY_SIZES = (("1-10", 10), ("11-50", 26), ("51-200", 28), ("201-1000", 20), ("1001-5000", 10), ("5000+", 6))

TITLES_EN = (
    "CEO", "CFO", "CTO", "COO", "Founder", "VP Sales", "Head of Sales", "Sales Operations Manager",
    "Head of Revenue Operations", "IT Director", "Procurement Manager", "Marketing Director", "Finance Manager",
    "Head of Operations", "Customer Success Lead", "Purchasing Lead", "Business Development Manager",
)
TITLES_ZH = (
    "总经理", "首席执行官", "销售总监", "销售经理", "财务总监", "技术总监", "采购经理", "市场总监", "运营总监",
    "IT经理", "副总裁", "创始人", "客户成功经理", "商务拓展经理",
)

DISQUALIFIED_REASONS = (
    "No budget this year", "Not a decision maker and no access to one", "Student / personal use",
    "Outside our service area", "Duplicate of an existing customer", "No response after six attempts",
    "Too small for our offering", "Already signed with a competitor",
)
LOST_REASONS = (
    "Price too high", "Chose a competitor", "No decision — project stalled", "Budget moved to next year",
    "Missing feature: offline mobile app", "Went with in-house build", "Champion left the company",
)
COMPETITORS = ("Salesforce", "HubSpot", "Odoo", "Zoho CRM", "Microsoft Dynamics 365", "Pipedrive", "纷享销客", "销售易")
DEAL_NAMES_EN = (
    "CRM rollout ({n} seats)", "Annual subscription renewal", "Enterprise plan upgrade", "Data migration project",
    "Sales team onboarding ({n} users)", "Support and SLA renewal", "Pilot: {n} users, 3 months",
    "Quote-to-cash implementation", "Partner portal add-on", "Multi-entity billing expansion",
)
DEAL_NAMES_ZH = (
    "CRM 系统实施（{n} 用户）", "年度订阅续约", "企业版升级", "数据迁移项目", "销售团队培训（{n} 人）",
    "售后服务续约", "试点项目：{n} 用户", "报价到回款实施",
)
NEXT_STEPS = (
    "Send revised proposal", "Demo for the IT team", "Call with procurement", "Security questionnaire",
    "Reference call with a customer", "Agree on pilot scope", "Legal review of the MSA", "Pricing call with the CFO",
)
ACTIVITY_SUBJECTS = {
    "call": ("Discovery call", "Follow-up call", "Call about pricing", "Check-in call", "Call back after webinar"),
    "email": ("Sent case study", "Sent pricing sheet", "Introduction e-mail", "Sent meeting notes", "Sent proposal"),
    "meeting": ("Product demo", "On-site workshop", "Kick-off meeting", "Quarterly business review",
                "Negotiation meeting"),
    "task": ("Prepare proposal", "Update the forecast", "Send contract draft", "Book demo with IT",
             "Confirm budget owner", "Follow up on security review"),
    "note": ("Prefers WeChat for quick questions", "Budget approved by the board", "Evaluating two vendors",
             "Decision expected after the trade show"),
}
ACTIVITY_SUBJECTS_ZH = {
    "call": ("初次沟通电话", "跟进电话", "价格沟通"),
    "email": ("发送案例资料", "发送报价单", "发送会议纪要"),
    "meeting": ("产品演示", "现场调研", "项目启动会"),
    "task": ("准备方案", "发送合同草稿", "确认预算负责人"),
    "note": ("客户偏好微信沟通", "预算已获董事会批准"),
}
CONSENT_TEXT = ("I agree that L2C Demo Inc. may contact me about its products. I can withdraw this consent "
                "at any time.")
UTM_SOURCES = {
    "advertising": (("google", "cpc"), ("baidu", "cpc"), ("bing", "cpc")),
    "social": (("linkedin", "social"), ("wechat", "social"), ("twitter", "social"), ("weibo", "social")),
    "email": (("newsletter", "email"),),
    "web_form": (("google", "organic"), ("baidu", "organic"), ("direct", "none"), ("partner-site", "referral")),
}
UTM_TERMS = ("crm software", "sales pipeline tool", "lead management", "quote to cash", "销售管理软件", "客户管理系统")

FREE_SOURCES = (  # lead sources without a campaign, with weights
    ("web_form", 20), ("manual", 12), ("import", 12), ("api", 6), ("referral", 10), ("cold_call", 10),
    ("partner", 6), ("email", 6), ("event", 6), ("other", 4),
)
CAMPAIGN_SOURCE = {
    "webinar": "web_form", "advertising": "advertising", "social": "social", "email": "email", "event": "event",
    "partner": "partner", "referral": "referral", "content": "web_form", "other": "other",
}

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    return _SLUG.sub("", text.lower())


@dataclass
class Pools:
    """Everything random picks from, built once per seed."""

    en_first: list[str]
    en_last: list[str]
    en_companies: list[tuple[str, str]]  # (name, domain)
    zh_companies: list[tuple[str, str]]
    en_streets: list[str]
    zh_streets: list[str]


def build_pools(seed: int, size: int = 600) -> Pools:
    en = Faker("en_US")
    en.seed_instance(seed)
    zh = Faker("zh_CN")
    zh.seed_instance(seed)
    en_first = sorted({en.first_name() for _ in range(size)})
    en_last = sorted({en.last_name() for _ in range(size)})
    suffixes = ("Group", "Logistics", "Systems", "Analytics", "Manufacturing", "Partners", "Health",
                "Foods", "Energy", "Labs", "Robotics", "Capital", "Retail", "Software")
    en_company_names = {en.company() for _ in range(size)}
    en_company_names |= {f"{en.last_name()} {suffixes[i % len(suffixes)]}" for i in range(size)}
    en_companies = []
    for name in sorted(en_company_names):
        en_companies.append((name, f"{slug(name.replace(' and ', ' '))}.com"))
    zh_companies = []
    seen = set()
    for _ in range(size * 2):
        name = zh.company()
        if name in seen:
            continue
        seen.add(name)
        word = ""
        while len(word) < 3 or not word.isalpha():
            word = zh.domain_word()
        zh_companies.append((name, f"{word}{len(seen) % 97}.com.cn"))
    zh_companies.sort()
    en_streets = sorted({en.street_address() for _ in range(size // 2)})
    zh_streets = sorted({zh.street_address() for _ in range(size // 2)})
    return Pools(en_first, en_last, en_companies, zh_companies, en_streets, zh_streets)


def phone_number(rng: random.Random, pattern: str) -> str:
    digits = "".join(str(rng.randrange(10)) if ch == "9" else ch for ch in pattern)
    if pattern.startswith("+86 1"):  # Chinese mobile numbers start 13–19
        digits = "+86 1" + str(rng.randrange(3, 10)) + digits[6:]
    return digits
